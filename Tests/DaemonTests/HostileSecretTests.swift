import FakeXero
import Foundation
import ResourceFetch
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime
import Worker
import XeroTestSupport
@testable import XeroAPI

/// Odd values in the `PAN_SEC_XERO_*` secrets, and the single checks of an event's
/// `resourceUrl` that the exact-path comparison would otherwise hide.
@Suite struct HostileSecretTests {
    static let tenant = "fe79f7dd-5d9f-4f3a-9c4e-1b2c3d4e5f60"

    static func jwt(_ payload: String) -> String {
        func b64(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return b64(#"{"alg":"RS256"}"#) + "." + b64(payload) + ".sig"
    }

    func settings(_ harness: Harness) -> XeroSettings {
        var settings = XeroSettings()
        settings.apiBaseURL = harness.configuration.apiBaseURL
        settings.identityBaseURL = harness.configuration.identityBaseURL
        settings.auth.mode = .accessToken
        return settings
    }

    // MARK: Expiry values

    /// `token status` converted the seconds left to an `Int` and trapped on an expiry of
    /// Int64.max seconds, whether it came from EXPIRES_IN or from the token's `exp`.
    @Test(arguments: [
        ["PAN_SEC_XERO_ACCESS_TOKEN": "not-a-jwt", "PAN_SEC_XERO_EXPIRES_IN": "9223372036854775807"],
        ["PAN_SEC_XERO_ACCESS_TOKEN": jwt(#"{"exp":9223372036854775807}"#)],
        ["PAN_SEC_XERO_ACCESS_TOKEN": jwt(#"{"exp":1e300}"#)],
    ])
    func tokenStatusWithAnExpiryBeyondInt64Reports(_ environment: [String: String]) async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let settings = settings(harness)
        let secrets = try XeroSecrets.load(settings, environment: environment)
        let lines = await TokenStatusReport.lines(settings: settings, secrets: secrets, stateDirectory: harness.dir.path,
                                                  transport: harness.transport, now: harness.clock.now)
        #expect(lines.contains("state: ready"))
        #expect(lines.contains { $0.hasPrefix("expires: ") && $0.contains(" (in ") })
        #expect(Timestamps.wholeSeconds(.infinity) == .max && Timestamps.wholeSeconds(-1e300) == .min
            && Timestamps.wholeSeconds(.nan) == 0 && Timestamps.wholeSeconds(1799.9) == 1799)
    }

    /// Secrets often arrive with a trailing newline; the token is trimmed, so is EXPIRES_IN.
    @Test func expiresInWithATrailingNewlineIsRead() throws {
        var settings = XeroSettings()
        settings.auth.mode = .accessToken
        let secrets = try XeroSecrets.load(settings, environment: [
            "PAN_SEC_XERO_ACCESS_TOKEN": "t\n", "PAN_SEC_XERO_EXPIRES_IN": "1800\n", "PAN_SEC_XERO_SCOPE": "a",
        ])
        guard case let .value(token, expiresIn, _, _) = secrets.accessToken else { throw Failure("expected the env token") }
        #expect(token == "t" && expiresIn == 1800 && secrets.expiresInNote == nil)
    }

    /// An unreadable EXPIRES_IN does not stop a token that carries its own `exp` (it would not
    /// be used); it is reported instead. Without an `exp` it still stops startup.
    @Test func anUnreadableExpiresInIsAWarningWhenTheTokenHasItsOwnExp() throws {
        var settings = XeroSettings()
        settings.auth.mode = .accessToken
        let token = Self.jwt(#"{"exp":1900000000}"#)
        let secrets = try XeroSecrets.load(settings, environment: ["PAN_SEC_XERO_ACCESS_TOKEN": token, "PAN_SEC_XERO_EXPIRES_IN": "soon"])
        guard case let .value(_, expiresIn, _, _) = secrets.accessToken else { throw Failure("expected the env token") }
        #expect(expiresIn == nil)
        let note = try #require(secrets.expiresInNote)
        #expect(note.contains("PAN_SEC_XERO_EXPIRES_IN") && note.contains("exp"))
        #expect(settings.describe(secrets: secrets, stateDirectory: "/tmp/x").contains { $0.hasPrefix("xero.auth.accessToken: set") && $0.contains(note) })
        #expect(throws: ConfigError.self) {
            try XeroSecrets.load(settings, environment: ["PAN_SEC_XERO_ACCESS_TOKEN": "t", "PAN_SEC_XERO_EXPIRES_IN": "soon"])
        }
    }

    /// A token file's JWT `exp` is its expiry, not `expires_in` counted from the file's mtime.
    @Test func aFileTokensOwnExpIsItsExpiry() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let path = harness.dir.file("access-token.json")
        let token = harness.fake.issueAccessToken(tenants: [tenant], lifetime: 300)
        try writeFile(path, #"{"access_token":"\#(token)","expires_in":1800}"#)
        let provider = StaticTokenProvider(source: .file(path: path, origin: "file \(path)"), now: harness.clock.now)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("the token must work at first") }
        harness.clock.advance(seconds: 600)  // past exp, well within 1800 s of the file's mtime
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case let .paused(reason) = outcome else { throw Failure("expected paused, got \(outcome)") }
        #expect(reason.contains("expired"))
        #expect(harness.fake.stats.totalCalls == 1)
    }

    // MARK: PAN_SEC_XERO_TENANT_URL

    @Test(arguments: [
        ("{\(tenant.uppercased())}", "only"),
        ("https://api.xero.com/connections/{\(tenant)}", "only"),
        ("file:///etc/xero/\(tenant)", "only"),
        ("tenants/\(tenant)", "only"),
        ("https://api.xero.com:443/connections", "listed"),
        ("https://api.xero.com:8443/connections", "none"),
        ("http://api.xero.com/connections", "none"),
        ("ftp://api.xero.com/connections", "none"),
        ("/connections", "none"),
        ("https://api%2Exero%2Ecom/connections", "none"),
        ("https://user@api.xero.com/connections/\(tenant)", "none"),
    ])
    func aValueIsReadAsALimitOrAsNoTenant(_ value: String, _ expected: String) {
        let (scope, note) = TenantURLReading.read(environment: ["PAN_SEC_XERO_TENANT_URL": value], apiBaseURL: "https://api.xero.com")
        switch (scope, expected) {
        case let (.only(tenantId, _), "only"): #expect(tenantId == Self.tenant && note == nil)
        case (.listed, "listed"): #expect(note == nil)
        case let (.noTenant(reason), "none"): #expect(note == reason && reason.contains("PAN_SEC_XERO_TENANT_URL"))
        default: Issue.record("\(value): expected \(expected), got \(scope)")
        }
    }

    /// User info is refused and never shown: not by check-config, not in the refusal reason,
    /// and `serve` builds its client (no exit 78 naming `xero.apiBaseURL`).
    @Test func aTenantURLWithUserInfoIsMaskedAndFetchesForNoTenant() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        var settings = settings(harness)
        let (tenant, id) = harness.seededTenant("Invoices")
        let value = harness.configuration.connectionsEndpoint.replacingOccurrences(of: "://", with: "://pandium:s3cretpw@")
        let environment = ["PAN_SEC_XERO_ACCESS_TOKEN": harness.fake.issueAccessToken(tenants: [tenant]),
                           "PAN_SEC_XERO_TENANT_URL": value]
        let secrets = try XeroSecrets.load(settings, environment: environment)
        let shown = settings.describe(secrets: secrets, stateDirectory: harness.dir.path).joined(separator: "\n")
        #expect(!shown.contains("s3cretpw") && !shown.contains("pandium:"))
        #expect(shown.contains("xero.auth.tenants: no tenant: PAN_SEC_XERO_TENANT_URL") && shown.contains("user info"))
        let client = try #require(try settings.makeClient(stateDirectory: harness.dir.path, environment: environment,
                                                           transport: harness.transport))
        let ref = harness.ref(tenant, "INVOICE", id)
        guard case let .refused(reason) = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("must be refused") }
        #expect(reason.contains("PAN_SEC_XERO_TENANT_URL") && !reason.contains("s3cretpw"))
        #expect(harness.fake.stats.totalCalls == 0)

        // The variable, not the API base, is named when a listing cannot be used.
        settings.apiBaseURL = "not a url"
        #expect(throws: ConfigError.self) { try settings.makeClient(stateDirectory: harness.dir.path, environment: [:]) }
    }

    /// While the listing fails, no organisation's event is fetched; they are retried (not
    /// dead-lettered), and fetched once a listing succeeds.
    @Test func whileTheListingFailsNothingIsFetchedAndTheEventsAreKept() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Contacts")
        harness.fake.serve(try CannedAnswer(rawHTTP: XeroAnswers.raw("error-503-unavailable")), tenant: "connections")
        let token = harness.fake.issueAccessToken(tenants: [tenant], lifetime: 100_000)
        let client = try XeroClient(configuration: harness.configuration, tokens: StaticTokenProvider(source: .value(
            accessToken: token, expiresIn: nil, scope: nil, origin: "test")), transport: harness.transport,
            tenantScope: .listed(url: harness.configuration.connectionsEndpoint, origin: "test"), relistInterval: .zero)
        let ref = harness.ref(tenant, "CONTACT", id)
        let first = try #require(await client.fetch([ref])[ref.key])
        guard case let .retryable(reason, _) = first else { throw Failure("expected retryable, got \(first)") }
        #expect(reason.contains("listing") && reason.contains("503"))
        #expect(harness.fake.stats.calls(tenant: tenant, endpoint: "Contacts?IDs") == 0)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("must be fetched once listed") }
        #expect(harness.fake.stats.requestsByEndpoint["connections"] == 2)
    }

    /// The worker asks the daemon's fetcher about each event's URL; the answer is the client's
    /// own check, made without a request.
    @Test func theFetcherRefusesAnEventsURLWithoutARequest() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let fetcher = XeroFetcher(client: try harness.makeClient(StaticTokenProvider(source: .value(
            accessToken: harness.fake.issueAccessToken(tenants: [tenant]), expiresIn: nil, scope: nil, origin: "test"))))
        let key = ResourceKey(tenantID: tenant, category: "INVOICE", resourceID: id)
        let good = harness.configuration.apiBaseURL + "/api.xro/2.0/Invoices/\(id)"
        #expect(fetcher.refusal(for: FetchRequest(key: key, resourceURL: good)) == nil)
        let odd = try #require(fetcher.refusal(for: FetchRequest(key: key, resourceURL: "https://evil.example/api.xro/2.0/Invoices/\(id)")))
        #expect(odd.contains("origin"))
        #expect(harness.fake.stats.totalCalls == 0)
    }

    // MARK: resourceUrl checks the exact path would hide

    /// Each URL would pass the exact-path check, or is caught by its own check first: the reason
    /// names the check, so removing it fails here.
    @Test(arguments: [
        ("https://evil.example/api.xro/2.0/Invoices/ID", "not to the configured API origin"),
        ("https://api.xero.com:8443/api.xro/2.0/Invoices/ID", "not to the configured API origin"),
        ("https://api.xero.com/api.xro/2.0/%49nvoices/ID", "percent-encoded"),
        ("https://api.xero.com/api.xro/2.0/x/../Invoices/ID", "dot or empty segments"),
        ("https://api.xero.com/api.xro/2.0//Invoices/ID", "dot or empty segments"),
    ])
    func eachResourceURLCheckRefusesOnItsOwn(_ template: String, _ expected: String) {
        var configuration = XeroAPIConfiguration()
        configuration.apiBaseURL = "https://api.xero.com"
        let id = newID()
        let ref = FetchRequest(key: ResourceKey(tenantID: "t1", category: "INVOICE", resourceID: id),
                              resourceURL: template.replacingOccurrences(of: "ID", with: id))
        let resolution = ResourceAddress.resolve(ref, configuration: configuration, origin: URLOrigin(configuration.apiBaseURL)!)
        guard case let .decided(.refused(reason)) = resolution else {
            Issue.record("\(template) must be refused, got \(resolution)")
            return
        }
        #expect(reason.contains(expected), "\(reason)")
        let defaultPort = FetchRequest(key: ResourceKey(tenantID: "t1", category: "INVOICE", resourceID: id),
                                      resourceURL: "https://API.xero.com:443/api.xro/2.0/Invoices/\(id)")
        guard case .fetch = ResourceAddress.resolve(defaultPort, configuration: configuration, origin: URLOrigin(configuration.apiBaseURL)!) else {
            Issue.record("the default port is the same origin")
            return
        }
    }
}
