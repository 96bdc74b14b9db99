import FakeXero
import Foundation
import ResourceFetch
import Synchronization
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// A token store that can be made to fail, as if the process died between Xero's answer and
/// the write reaching the disk.
final class FailingStore: TokenStore {
    let file: TokenFile
    let failing = Mutex(false)
    var location: String { file.location }

    init(_ file: TokenFile) { self.file = file }

    func load() throws(TokenStoreError) -> StoredTokenSet? { try file.load() }

    func save(_ set: StoredTokenSet) throws(TokenStoreError) {
        if failing.withLock({ $0 }) { throw .system(call: "write", path: file.path, errno: 5) }
        try file.save(set)
    }

    func stamp() -> FileStamp? { file.stamp() }
}

@Suite struct RefreshTokenTests {
    @Test func refreshesThenFetchesAndRefreshesAgainBeforeExpiry() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let dir = harness.dir
        let (provider, file) = try harness.refreshProvider(tenants: [tenant], directory: dir)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 1)
        let stored = try #require(try file.load())
        // 1,790 s later the token has less than the 60 s margin left: renewed before any 401.
        harness.clock.advance(seconds: 1790)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 2)
        #expect(harness.fake.stats.unauthorized == 0)
        #expect(try file.load()?.refreshToken != stored.refreshToken)
        let status = await provider.status()
        #expect(status.state == .ready)
        #expect(status.renewals == 2)
    }

    @Test func aLostRefreshAnswerIsRetriedWithTheOldTokenInsideTheGrace() async throws {
        let harness = try Harness(requestTimeout: .seconds(2))
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Contacts")
        let dir = harness.dir
        let (provider, file) = try harness.refreshProvider(tenants: [tenant], directory: dir)
        let original = try #require(try file.load()).refreshToken
        harness.fake.loseNextTokenResponse()
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "CONTACT", id)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        let stats = harness.fake.stats
        #expect(stats.lostTokenResponses == 1)
        #expect(stats.tokenGrants["refresh_token"] == 2)  // the lost one and the retry
        #expect(stats.graceReuses == 1)                   // the retry used the old, already used token
        #expect(try file.load()?.refreshToken != original)
    }

    @Test(arguments: [2, 10])
    func concurrentFetchesNeedingARefreshShareOne(_ callers: Int) async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let tenants = (0..<callers).map { _ in newID() }
        var refs: [FetchRequest] = []
        for tenant in tenants {
            let id = newID()
            harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
            refs.append(harness.ref(tenant, "INVOICE", id))
        }
        let (provider, _) = try harness.refreshProvider(tenants: tenants, directory: dir)
        let client = try harness.makeClient(provider)
        let outcomes = await withTaskGroup(of: FetchOutcome?.self) { group in
            for ref in refs { group.addTask { await client.fetch([ref])[ref.key] } }
            var all: [FetchOutcome?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == callers)
        #expect(outcomes.allSatisfy { if case .found = $0 { true } else { false } })
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 1)
    }

    @Test func aCrashBetweenRefreshAndSaveKeepsTheOldTokenUsableInsideTheGrace() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let dir = harness.dir
        let file = TokenFile(stateDirectory: dir.path)
        let store = FailingStore(file)
        store.failing.withLock { $0 = true }
        let (first, _) = try harness.refreshProvider(tenants: [tenant], directory: dir, store: store)
        let onDisk = try #require(try file.load()).refreshToken
        let ref = harness.ref(tenant, "INVOICE", id)

        // Xero rotates, the write fails: nothing is fetched with the unsaved token.
        let outcome = try #require(await harness.makeClient(first).fetch([ref])[ref.key])
        guard case .waiting = outcome else { throw Failure("expected a wait, got \(outcome)") }
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 1)
        #expect(harness.fake.stats.totalCalls == 0)
        #expect(try file.load()?.refreshToken == onDisk)

        // "Restart": a new provider reads the old token from disk and refreshes inside the grace.
        harness.clock.advance(seconds: 600)
        let second = RefreshTokenProvider(client: harness.client, store: file, identity: harness.identity, now: harness.clock.now)
        guard case .found = try #require(await harness.makeClient(second).fetch([ref])[ref.key]) else { throw Failure("not found") }
        #expect(harness.fake.stats.graceReuses == 1)
        #expect(try file.load()?.refreshToken != onDisk)
    }

    @Test func theRotatedTokenIsOnDiskBeforeTheNewAccessTokenIsUsed() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let dir = harness.dir
        let (provider, file) = try harness.refreshProvider(tenants: [tenant], directory: dir)
        // At the first API call with a new access token, the token file must already hold the
        // refresh token issued with it.
        harness.fake.onFirstUseOfRefreshedToken { issuedRefreshToken in
            (try? file.load())??.refreshToken == issuedRefreshToken
        }
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        for _ in 0..<3 {
            guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
            harness.clock.advance(seconds: 1790)
        }
        #expect(harness.fake.stats.firstUseChecks == 3)
        #expect(harness.fake.stats.firstUseViolations == 0)
    }

    @Test func invalidGrantPausesWithTheReauthorizeMessageUntilANewTokenFile() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let dir = harness.dir
        let file = TokenFile(stateDirectory: dir.path)
        try file.save(StoredTokenSet(refreshToken: "rt-revoked", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date()))
        let provider = RefreshTokenProvider(client: harness.client, store: file, identity: harness.identity, now: harness.clock.now)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case let .paused(reason) = outcome else { throw Failure("expected paused, got \(outcome)") }
        #expect(reason.contains("invalid_grant"))
        #expect(reason.contains("xero-webhookd authorize"))
        // Paused: no further attempts at Xero.
        _ = await client.fetch([ref])
        #expect(harness.fake.stats.invalidGrants == 1)
        guard case .paused = await provider.status().state else { throw Failure("status must say paused") }

        // A new authorisation written to the file resumes fetching.
        let fresh = harness.fake.issueRefreshToken(clientId: Harness.clientId, tenants: [tenant])
        try file.save(StoredTokenSet(refreshToken: fresh, accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date()))
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not resumed") }
    }

    @Test func aRefreshTokenUsedAfterTheGraceIsInvalid() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let tenant = newID()
        let file = TokenFile(stateDirectory: dir.path)
        let store = FailingStore(file)
        store.failing.withLock { $0 = true }
        let (first, _) = try harness.refreshProvider(tenants: [tenant], directory: dir, store: store)
        guard case .unavailable = await first.token() else { throw Failure("the save must fail") }
        harness.clock.advance(seconds: 31 * 60)
        let second = RefreshTokenProvider(client: harness.client, store: file, identity: harness.identity, now: harness.clock.now)
        guard case let .paused(reason) = await second.token() else { throw Failure("expected paused") }
        #expect(reason.contains("authorize"))
    }
}
