import DaemonConfig
import FakeXero
import Foundation
import PostgresNIO
import PostgresSupport
import PostgresTestSupport
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// A renewal's lease outlives its database session and its daemon: while one daemon's refresh
/// may still be at Xero, no other daemon sends one.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct TokenLeaseTests {
    private struct Node {
        let store: PostgresTokenStore
        let provider: SharedRefreshTokenProvider
    }

    private static func node(_ harness: Harness, table: String, leaseLength: Duration = .seconds(100), seeded: Bool) throws -> Node {
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let store = PostgresTokenStore(endpoint: endpoint, table: table, leaseLength: leaseLength, sessionName: table)
        let seed = seeded ? TokenFile(stateDirectory: harness.dir.path) : nil
        return Node(store: store, provider: SharedRefreshTokenProvider(client: harness.client, store: store, seed: seed, identity: harness.identity,
                                                                       now: harness.clock.now))
    }

    /// What `authorize` leaves on the first node: a refresh token, no access token yet.
    private static func seed(_ harness: Harness, tenant: String) throws {
        let refresh = harness.fake.issueRefreshToken(clientId: Harness.clientId, tenants: [tenant])
        try TokenFile(stateDirectory: harness.dir.path).save(StoredTokenSet(refreshToken: refresh, accessToken: nil, expiresAt: nil, scopes: [],
                                                                             updatedAt: harness.clock.now()))
    }

    /// Ends the sessions of the nodes under test (named after their table), not those of tests
    /// running beside this one.
    private static func terminateSessions(using table: String) async throws -> Int64 {
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var count: Int64 = 0
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = '\(table)'
            """))
        for try await value in rows.decode(Int64.self) { count = value }
        return count
    }

    private static func token(_ answer: TokenAvailability?) -> String? {
        if case let .ready(token)? = answer { token.accessToken } else { nil }
    }

    /// The server ends every daemon session while the first node's refresh is at Xero (an
    /// administrator, a failover): the second node waits for that refresh instead of sending
    /// its own, and the first node still stores and uses what Xero answered.
    @Test func killedSessionsMidRefreshDoNotLetASecondRefreshOverlap() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        harness.fake.setTokenDelay(.seconds(2))
        let (tenant, _) = harness.seededTenant("Invoices")
        try Self.seed(harness, tenant: tenant)
        let table = TestPostgres.uniqueTable("lease_tokens")
        let (a, b) = (try Self.node(harness, table: table, seeded: true), try Self.node(harness, table: table, seeded: false))
        _ = await a.provider.status()  // offers the file's set
        let first = Task { await a.provider.token() }
        #expect(await eventually(seconds: 60) { harness.fake.stats.maxTokenRequestsInFlight == 1 })
        #expect(try await Self.terminateSessions(using: table) > 0)
        let second = await b.provider.token()
        let firstAnswer = try? await Deadline.run(within: .seconds(60)) { await first.value }
        let stats = harness.fake.stats
        #expect(stats.maxTokenRequestsInFlight == 1, "two refreshes in flight")
        #expect(stats.tokenGrants["refresh_token"] == 1, "\(stats.tokenGrants)")
        #expect(stats.invalidGrants == 0 && stats.graceReuses == 0)
        #expect(Self.token(firstAnswer) != nil, "the first node's renewal: \(String(describing: firstAnswer))")
        #expect(Self.token(second) == Self.token(firstAnswer), "\(second)")
        await a.store.close()
        await b.store.close()
    }

    /// A renewal that never ends (its daemon killed or frozen mid-refresh) holds the set only
    /// until its lease expires; then another node renews, and the stale renewal's late change
    /// is not stored.
    @Test func aRenewalThatNeverEndsHoldsTheSetOnlyUntilItsLeaseExpires() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, _) = harness.seededTenant("Invoices")
        try Self.seed(harness, tenant: tenant)
        let table = TestPostgres.uniqueTable("lease_tokens")
        let (a, b) = (try Self.node(harness, table: table, leaseLength: .seconds(2), seeded: true),
                      try Self.node(harness, table: table, leaseLength: .seconds(2), seeded: false))
        _ = await a.provider.status()  // offers the file's set
        let entered = AsyncStream<Void>.makeStream()
        let stale = Task {
            try await a.store.renew { _ in
                entered.continuation.yield()
                try? await Task.sleep(for: .seconds(3600))  // ends only when cancelled
                return (SharedTokenChange.replace(StoredTokenSet(refreshToken: "rt-stale", accessToken: nil, expiresAt: nil, scopes: [],
                                                                 updatedAt: Date())), ())
            }
        }
        var inside = entered.stream.makeAsyncIterator()
        _ = await inside.next()
        let started = ContinuousClock.now
        let answer = await b.provider.token()
        #expect(Self.token(answer) != nil, "\(answer)")
        #expect(ContinuousClock.now - started >= .milliseconds(1500), "renewed while the lease was current")
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 1)
        stale.cancel()
        await #expect(throws: (any Error).self) { try await stale.value }
        #expect(try await b.store.load().set?.refreshToken != "rt-stale")
        await a.store.close()
        await b.store.close()
    }
}
