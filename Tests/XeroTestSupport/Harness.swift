import FakeXero
import Foundation
import ResourceFetch
import Synchronization
import TestSupport
import Testing
import XeroAPI
#if canImport(Glibc)
import Glibc
#endif

/// A wall clock the test moves by hand; shared by the fake and the providers so token expiry
/// can be tested without waiting.
package final class ManualClock: Sendable {
    private let current: Mutex<Date>

    package init(_ start: Date = Date()) { current = Mutex(start) }

    package var now: @Sendable () -> Date { { [self] in current.withLock { $0 } } }

    package func advance(seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// A live FakeXero on 127.0.0.1 port 0 and a client configuration pointed at it.
package struct Harness: Sendable {
    package let fake: FakeXero
    package let clock: ManualClock
    package let configuration: XeroAPIConfiguration
    package let transport: URLSessionTransport
    /// Scratch space for token files, removed by `stop()`.
    package let dir: TemporaryDirectory
    package static let clientId = "client-id-1"
    package static let clientSecret = "client-secret-1"

    package init(options: FakeXeroOptions = .init(), requestTimeout: Duration = .seconds(10)) throws {
        clock = ManualClock()
        fake = FakeXero(options: options, now: clock.now)
        let base = try fake.start()
        var configuration = XeroAPIConfiguration()
        configuration.apiBaseURL = base
        configuration.identityBaseURL = base
        configuration.loginBaseURL = base
        configuration.requestTimeout = requestTimeout
        self.configuration = configuration
        transport = URLSessionTransport()
        dir = try TemporaryDirectory()
        fake.registerClient(id: Self.clientId, secret: Self.clientSecret)
    }

    package var client: ClientCredentials { ClientCredentials(id: Self.clientId, secret: Self.clientSecret) }

    package var identity: IdentityClient { IdentityClient(configuration: configuration, transport: transport) }

    package func stop() {
        fake.shutdown()
        dir.remove()
    }

    /// A new tenant holding one record with a new id in `collection` ("Invoices", "Contacts"…).
    package func seededTenant(_ collection: String) -> (tenant: String, id: String) {
        let tenant = newID(), id = newID()
        fake.addRecord(tenant: tenant, collection: collection, id: id)
        return (tenant, id)
    }

    /// A refresh-token provider whose token file (in `directory`) holds a fresh authorisation
    /// for `tenants`, as `authorize` would leave it (refresh token only).
    package func refreshProvider(tenants: [String], directory: TemporaryDirectory, store: (any TokenStore)? = nil,
                         lostAnswerRetries: Int = 2) throws -> (RefreshTokenProvider, TokenFile) {
        let file = TokenFile(stateDirectory: directory.path)
        let refresh = fake.issueRefreshToken(clientId: Self.clientId, tenants: tenants)
        try file.save(StoredTokenSet(refreshToken: refresh, accessToken: nil, expiresAt: nil, scopes: [], updatedAt: clock.now()))
        let provider = RefreshTokenProvider(client: client, store: store ?? file, identity: identity, now: clock.now,
                                            lostAnswerRetries: lostAnswerRetries)
        return (provider, file)
    }

    package func makeClient(_ tokens: any TokenProvider, billing: (any TokenProvider)? = nil,
                            rateBudget: (any RateBudget)? = nil) throws -> XeroClient {
        try XeroClient(configuration: configuration, tokens: tokens, billingTokens: billing, transport: transport, rateBudget: rateBudget)
    }

    /// A Custom Connection (client_credentials, one organisation holding one invoice) and a
    /// client using it; the reference names that invoice. `tenant` is the organisation.
    package func customConnection() throws -> (client: XeroClient, ref: FetchRequest, tenant: String) {
        let tenant = newID(), id = newID()
        fake.registerClient(id: "cc", secret: "cc-secret", customConnectionTenant: tenant)
        fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
        let provider = ClientCredentialsProvider(client: ClientCredentials(id: "cc", secret: "cc-secret"), scope: nil,
                                                 identity: identity, now: clock.now)
        return (try makeClient(provider), ref(tenant, "INVOICE", id), tenant)
    }

    /// An access-token provider as the environment and a token file give it: the environment's
    /// token already refused by Xero; the file's working, or refused too with `fileRefused`.
    package func environmentAndFileTokens(tenant: String, fileRefused: Bool) throws -> (provider: StaticTokenProvider, path: String) {
        let stale = fake.issueAccessToken(tenants: [tenant])
        if !fileRefused { fake.revokeAccessTokens() }
        let path = dir.file("access-token.json")
        try writeFile(path, #"{"access_token":"\#(fake.issueAccessToken(tenants: [tenant]))","expires_in":1800}"#)
        if fileRefused { fake.revokeAccessTokens() }
        let provider = StaticTokenProvider(sources: [
            .value(accessToken: stale, expiresIn: 1800, scope: nil, origin: "environment PAN_SEC_XERO_ACCESS_TOKEN"),
            .file(path: path, origin: "file \(path)"),
        ], now: clock.now)
        return (provider, path)
    }

    /// A reference as a webhook event would carry it, with the resourceUrl on the fake.
    package func ref(_ tenant: String, _ category: String, _ id: String) -> FetchRequest {
        let collection = switch category.uppercased() {
        case "INVOICE": "Invoices"
        case "CONTACT": "Contacts"
        case "CREDITNOTE": "CreditNotes"
        default: "Other"
        }
        return FetchRequest(key: ResourceKey(tenantID: tenant, category: category, resourceID: id),
                           resourceURL: "\(configuration.apiBaseURL)/api.xro/2.0/\(collection)/\(id)")
    }
}

package func newID() -> String { UUID().uuidString.lowercased() }

/// A limiter whose `tenant` has used all `perDay` calls of its day, saved to `file`.
package func limiterWithUsedUpDay(tenant: String, perDay: Int, file: String) async -> RateLimiter {
    let limiter = RateLimiter(limits: RateLimits(perDayPerTenant: perDay), stateFile: file)
    for _ in 0..<perDay {
        #expect(await limiter.acquire(tenant: tenant) == .granted)
        await limiter.release(tenant: tenant)
    }
    return limiter
}

/// Polls `condition` until it holds or `seconds` pass; never a guessed sleep.
package func eventually(seconds: Double = 10, _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return await condition()
}

/// A listening TCP socket on 127.0.0.1 that never accepts: `pendingConnections()` reports how
/// many connections reached it (a connection completes in the backlog even unaccepted).
package final class CountingListener {
    package let fd: Int32
    package let port: UInt16

    package init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw RawHTTPClient.ClientError(description: "listen: errno \(errno)")
        }
        var out = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &out) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.fd = fd
        port = UInt16(bigEndian: out.sin_port)
    }

    deinit { close(fd) }

    /// Accepts (and closes) everything that arrived; returns the count.
    package func pendingConnections() -> Int {
        var count = 0
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return count }
            close(client)
            count += 1
        }
    }
}

/// A test's own failure with a sentence saying what did not hold.
package struct Failure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
