import DaemonConfig
import FakeXero
import Foundation
import Logging
import PostgresNIO
import PostgresSupport
import PostgresTestSupport
import Synchronization
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Faults around the cluster token store's committed lease: killed sessions, a locked row, hung
/// backends, a server restart, an operator's new set, a cancelled caller.
@Suite(.serialized, .enabled(if: TestPostgres.runs, "needs a PostgreSQL server"))
struct TokenLeaseFaultTests {
    private static let log = Logger(label: "test")

    private struct Node {
        let store: PostgresTokenStore
        let provider: SharedRefreshTokenProvider
    }

    private static func node(_ harness: Harness, _ endpoint: PostgresEndpoint, table: String, leaseLength: Duration, seeded: Bool) -> Node {
        let store = PostgresTokenStore(endpoint: endpoint, table: table, leaseLength: leaseLength, sessionName: table)
        let seed = seeded ? TokenFile(stateDirectory: harness.dir.path) : nil
        return Node(store: store, provider: SharedRefreshTokenProvider(client: harness.client, store: store, seed: seed, identity: harness.identity,
                                                                       now: harness.clock.now))
    }

    private static func seed(_ harness: Harness, tenant: String) throws {
        let refresh = harness.fake.issueRefreshToken(clientId: Harness.clientId, tenants: [tenant])
        try TokenFile(stateDirectory: harness.dir.path).save(StoredTokenSet(refreshToken: refresh, accessToken: nil, expiresAt: nil, scopes: [],
                                                                             updatedAt: harness.clock.now()))
    }

    private static func sharedEndpoint() throws -> PostgresEndpoint { try PostgresEndpoint.parse(try TestPostgres.server().url()) }

    private static func scalar(_ endpoint: PostgresEndpoint, _ sql: String) async throws -> Int64 {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 1, name: "test-admin"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        return try await Deadline.run(within: .seconds(20)) {
            var value: Int64 = 0
            for try await v in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(Int64.self) { value = v }
            return value
        }
    }

    private static func token(_ answer: TokenAvailability?) -> String? {
        if case let .ready(token)? = answer { token.accessToken } else { nil }
    }

    private func poll(seconds: Double = 60, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Holds the token row (`SELECT … FOR UPDATE`) in a transaction of its own until `release()`.
    private final class RowLock: Sendable {
        private final class Gate: Sendable { let slot = Mutex<CheckedContinuation<Void, Never>?>(nil) }
        private let gate = Gate()
        private let task: Task<Void, any Error>

        init(_ endpoint: PostgresEndpoint, _ table: String) {
            let gate = self.gate
            task = Task {
                let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 1, name: "test-locker"))
                let runner = Task { await client.run() }
                defer { runner.cancel() }
                try await client.withTransaction(logger: TokenLeaseFaultTests.log) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(table) WHERE name = 'organisation' FOR UPDATE"),
                                               logger: TokenLeaseFaultTests.log)
                    await withCheckedContinuation { continuation in gate.slot.withLock { $0 = continuation } }
                }
            }
        }

        func held() -> Bool { gate.slot.withLock { $0 != nil } }

        func release() async {
            gate.slot.withLock { $0?.resume(); $0 = nil }
            _ = try? await task.value
        }
    }

    /// The session is killed while the renewal stores what Xero answered: the store is tried
    /// again on a new connection, so the rotated set is kept, the lease is cleared, and the
    /// other daemon takes the set at once without sending the old refresh token again.
    @Test func aFinishKilledAfterXeroAnsweredIsStoredOnANewConnection() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        harness.fake.setTokenDelay(.seconds(2))
        let (tenant, _) = harness.seededTenant("Invoices")
        try Self.seed(harness, tenant: tenant)
        let endpoint = try Self.sharedEndpoint()
        let table = TestPostgres.uniqueTable("fault_finish")
        let lease = Duration.seconds(12)
        let a = Self.node(harness, endpoint, table: table, leaseLength: lease, seeded: true)
        let b = Self.node(harness, endpoint, table: table, leaseLength: lease, seeded: false)
        _ = await a.provider.status()  // offers the file's set
        let first = Task { await a.provider.token() }
        #expect(try await poll { harness.fake.stats.maxTokenRequestsInFlight == 1 })
        // While A is at Xero, the row is locked, so A's finish waits on it; then its session is ended.
        let lock = RowLock(endpoint, table)
        #expect(try await poll { lock.held() })
        #expect(try await poll {
            try await Self.scalar(endpoint, """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '\(table)' AND wait_event_type = 'Lock'
                """) > 0
        }, "A's finish never waited on the row")
        await lock.release()
        let firstAnswer = await first.value
        // A's store is tried again on a new connection: its renewal succeeds.
        #expect(Self.token(firstAnswer) != nil, "A's renewal: \(firstAnswer)")
        let stranded = try await Self.scalar(endpoint, """
            SELECT coalesce(extract(epoch FROM lease_until - clock_timestamp()) * 1000, -1)::bigint FROM \(table) WHERE lease_owner IS NOT NULL
            """)
        let started = ContinuousClock.now
        let second = await b.provider.token()
        let waited = ContinuousClock.now - started
        let stats = harness.fake.stats
        #expect(stranded <= 0, "the failed renewal left its lease in the store for another \(stranded) ms")
        #expect(waited < .seconds(3), "B waited \(waited) for a lease whose renewal had already ended")
        #expect(Self.token(second) != nil, "\(second)")
        #expect(stats.graceReuses == 0, "the rotated set was lost: the next renewal resent the superseded refresh token (grants \(stats.tokenGrants))")
        await a.store.close()
        await b.store.close()
    }

    /// An operator's new set (`authorize`, then a start or reload: `offer`) stored while a
    /// renewal is at Xero is kept: the renewal's refusal or rotated set applies only to the set
    /// it started from, so neither pauses the daemons on the new set nor replaces it.
    @Test func anOperatorsNewSetOfferedDuringARenewalIsKept() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let endpoint = try Self.sharedEndpoint()
        for change in ["refuse", "replace"] {
            let table = TestPostgres.uniqueTable("fault_offer")
            let a = Self.node(harness, endpoint, table: table, leaseLength: .seconds(30), seeded: false)
            let b = Self.node(harness, endpoint, table: table, leaseLength: .seconds(30), seeded: false)
            #expect(try await a.store.offer(StoredTokenSet(refreshToken: "rt-old", accessToken: nil, expiresAt: nil, scopes: [],
                                                           updatedAt: Date().addingTimeInterval(-60))))
            let entered = AsyncStream<Void>.makeStream()
            let gate = AsyncStream<Void>.makeStream()
            let renewal = Task {
                try await a.store.renew { _ in
                    entered.continuation.yield()
                    var it = gate.stream.makeAsyncIterator()
                    _ = await it.next()  // "at Xero"
                    let result: SharedTokenChange = change == "refuse"
                        ? .refuse("Xero refused the refresh token (invalid_grant)")
                        : .replace(StoredTokenSet(refreshToken: "rt-old-rotated", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date()))
                    return (result, ())
                }
            }
            var inside = entered.stream.makeAsyncIterator()
            _ = await inside.next()
            // The operator's new authorisation reaches the store meanwhile.
            let offered = try await b.store.offer(StoredTokenSet(refreshToken: "rt-new-authorize", accessToken: nil, expiresAt: nil, scopes: [],
                                                                 updatedAt: Date()))
            gate.continuation.yield()
            let outcome = await renewal.result
            let state = try await b.store.load()
            await b.provider.reload()
            let status = await b.provider.status()
            if change == "refuse" {
                #expect(!(state.set?.refreshToken == "rt-new-authorize" && state.refusal != nil),
                        "the operator's new set is stored as refused: every daemon pauses (\(status.state))")
            } else {
                #expect(state.set?.refreshToken == "rt-new-authorize" || !offered,
                        "the offer was acknowledged (stored=\(offered)) but the renewal overwrote it with \(state.set?.refreshToken ?? "nil")")
            }
            await a.store.close()
            await b.store.close()
        }
    }

    /// A renewal whose caller is cancelled during the refresh still stores its result and lets
    /// the lease go: the other daemon does not wait out the lease.
    @Test func aCancelledCallerStillReleasesTheLease() async throws {
        let endpoint = try Self.sharedEndpoint()
        let table = TestPostgres.uniqueTable("fault_cancel")
        let lease = Duration.seconds(10)
        let a = PostgresTokenStore(endpoint: endpoint, table: table, leaseLength: lease, sessionName: table)
        let b = PostgresTokenStore(endpoint: endpoint, table: table, leaseLength: lease, sessionName: table)
        #expect(try await a.offer(StoredTokenSet(refreshToken: "rt-1", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date())))
        let entered = AsyncStream<Void>.makeStream()
        let gate = AsyncStream<Void>.makeStream()
        let renewal = Task {
            try await a.renew { _ in
                entered.continuation.yield()
                var it = gate.stream.makeAsyncIterator()
                _ = await it.next()
                return (SharedTokenChange.keep, ())
            }
        }
        var inside = entered.stream.makeAsyncIterator()
        _ = await inside.next()
        renewal.cancel()
        gate.continuation.yield()
        let outcome = await renewal.result
        let started = ContinuousClock.now
        try await b.renew { _ in (SharedTokenChange.keep, ()) }
        let waited = ContinuousClock.now - started
        #expect(waited < .seconds(3), "B waited \(waited) for the lease of a cancelled renewal (outcome \(outcome))")
        await a.close()
        await b.close()
    }

    /// The server ends the store's idle pooled sessions: the next load answers at once.
    @Test func idleSessionsKilledInThePoolDoNotStallTheStore() async throws {
        let endpoint = try Self.sharedEndpoint()
        let table = TestPostgres.uniqueTable("fault_idle")
        let store = PostgresTokenStore(endpoint: endpoint, table: table, sessionName: table)
        #expect(try await store.offer(StoredTokenSet(refreshToken: "rt-1", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date())))
        _ = try await store.load()
        #expect(try await Self.scalar(endpoint, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '\(table)'") > 0)
        for n in 0..<4 {
            let started = ContinuousClock.now
            let state = try? await store.load()
            try? await store.renew { _ in (SharedTokenChange.keep, ()) }
            let took = ContinuousClock.now - started
            // The first call may meet a connection in the middle of dying (seen once in a loaded
            // run: it failed at the store's 30 s limit); every later one answers at once.
            if n > 0 { #expect(state?.set?.refreshToken == "rt-1" && took < .seconds(5), "round \(n): \(String(describing: state)) in \(took)") }
        }
        await store.close()
    }

    /// Backends that stop answering (SIGSTOP: a frozen server, a partition): each call ends at
    /// its limit and closes its connection, so the store's pool of two is not lost and a later
    /// call succeeds once the server answers. Own cluster (the backends are stopped).
    @Test func hungBackendsDoNotLeakTheTokenStorePool() async throws {
        let cluster = try await ThrowawayPostgres.startOffPool()
        defer { cluster.stopInBackground() }
        let endpoint = try PostgresEndpoint.parse(cluster.url())
        let table = TestPostgres.uniqueTable("fault_hung")
        let store = PostgresTokenStore(endpoint: endpoint, table: table, sessionName: table)
        #expect(try await store.offer(StoredTokenSet(refreshToken: "rt-1", accessToken: nil, expiresAt: nil, scopes: [], updatedAt: Date())))
        // Two connections into the pool: two loads waiting on a row lock at once.
        let lock = RowLock(endpoint, table)
        #expect(try await poll { lock.held() })
        let renewals = (0..<2).map { _ in Task { try await store.renew { _ in (SharedTokenChange.keep, ()) } } }
        var stopped: [Int32] = []
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 1, name: "test-admin"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        #expect(try await poll {
            stopped = []
            for try await pid in try await client.query(PostgresQuery(unsafeSQL: """
                SELECT pid FROM pg_stat_activity WHERE application_name = '\(table)' AND wait_event_type = 'Lock'
                """)).decode(Int32.self) { stopped.append(pid) }
            return stopped.count == 2
        })
        for pid in stopped { kill(pid, SIGSTOP) }
        defer { for pid in stopped { kill(pid, SIGCONT) } }
        await lock.release()
        for renewal in renewals { await #expect(throws: (any Error).self) { try await renewal.value } }
        #expect(try await Self.scalar(endpoint, "SELECT 1") == 1, "the server answers new sessions")
        let started = ContinuousClock.now
        let later = try? await store.load()
        #expect(later != nil, "a load after the pool's two connections hung failed after \(ContinuousClock.now - started)")
        for pid in stopped { kill(pid, SIGCONT) }
        await store.close()
    }

    /// The server crashes and comes back while a renewal is at Xero: the renewal still stores
    /// the rotated set, and another daemon takes it without a refresh of its own.
    @Test func serverCrashWhileARenewalIsAtXero() async throws {
        let cluster = try await ThrowawayPostgres.startOffPool()
        defer { cluster.stopInBackground() }
        let harness = try Harness()
        defer { harness.stop() }
        harness.fake.setTokenDelay(.seconds(3))
        let (tenant, _) = harness.seededTenant("Invoices")
        try Self.seed(harness, tenant: tenant)
        let endpoint = try PostgresEndpoint.parse(cluster.url())
        let table = TestPostgres.uniqueTable("fault_crash")
        let a = Self.node(harness, endpoint, table: table, leaseLength: .seconds(20), seeded: true)
        let b = Self.node(harness, endpoint, table: table, leaseLength: .seconds(20), seeded: false)
        _ = await a.provider.status()
        let first = Task { await a.provider.token() }
        #expect(try await poll { harness.fake.stats.maxTokenRequestsInFlight == 1 })
        try await cluster.stopImmediatelyOffPool()
        try await cluster.startAgainOffPool()
        let firstAnswer = await first.value
        let started = ContinuousClock.now
        let second = await b.provider.token()
        let stats = harness.fake.stats
        #expect(Self.token(firstAnswer) != nil, "\(firstAnswer)")
        #expect(Self.token(second) == Self.token(firstAnswer))
        #expect(stats.tokenGrants["refresh_token"] == 1 && stats.maxTokenRequestsInFlight == 1)
        await a.store.close()
        await b.store.close()
    }
}
