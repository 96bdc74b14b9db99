import DaemonConfig
import Foundation
import Logging
import PostgresNIO
import PostgresSink
import PostgresSupport
import PostgresTestSupport
import Synchronization
import Testing
import Worker

/// The sink's connection killed by the server in the middle of a delivery (an administrator's
/// `pg_terminate_backend`, a failover, a restart).
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct KilledConnectionTests {
    private func ok(_ results: [Result<Void, SinkError>]) -> Bool { results.allSatisfy { (try? $0.get()) != nil } }

    private func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Six deliveries in a row have their backend terminated while they wait for a lock: each
    /// fails at once, not at the sink's two-minute timeout, and none leaves its connection
    /// stuck in the pool (it holds four), so the next delivery succeeds.
    @Test func deliveriesWhoseConnectionIsKilledFailAtOnceAndTheNextSucceeds() async throws {
        let table = TestPostgres.uniqueTable("killed")
        let sink = try Fixtures.sink(table: table, timeout: .seconds(120))
        #expect(ok(await sink.deliver([try Fixtures.record(id: "inv-0", resource: "{}", fetchedAt: "2026-11-29T01:00:00.000Z")])))
        // Another session holds the table, so each delivery waits inside its transaction, where
        // its backend is then terminated.
        let release = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let locker = Task {
            try await Fixtures.withClient { client in
                try await client.withTransaction(logger: Logger(label: "test")) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE"), logger: Logger(label: "test"))
                    await withCheckedContinuation { continuation in release.withLock { $0 = continuation } }
                }
            }
        }
        #expect(try await eventually {
            try await count("SELECT count(*) FROM pg_locks WHERE relation = '\(table)'::regclass AND mode = 'AccessExclusiveLock' AND granted") > 0
        })
        for round in 1...6 {
            let delivery = Task { await sink.deliver([try Fixtures.record(id: "inv-\(round)", resource: "{}", fetchedAt: "2026-11-29T01:00:02.000Z")]) }
            #expect(try await eventually {
                try await count("""
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO%\(table)%'
                    """) > 0
            })
            let outcome = try? await Deadline.run(within: .seconds(30)) { try await delivery.value }
            #expect(outcome != nil, "round \(round): the delivery did not return within 30 s of its connection being killed")
            if let outcome { #expect(!ok(outcome), "round \(round): reported success on a killed connection") }
            guard outcome != nil else { break }
        }
        release.withLock { $0?.resume(); $0 = nil }
        _ = try? await locker.value
        let after = try? await Deadline.run(within: .seconds(60)) {
            await sink.deliver([try Fixtures.record(id: "inv-after", resource: "{}", fetchedAt: "2026-11-29T01:00:03.000Z")])
        }
        #expect(after.map(ok) == true, "the delivery after the kills: \(String(describing: after))")
        await sink.stop()
    }

    private func count(_ sql: String) async throws -> Int64 {
        try await Fixtures.withClient { client in
            var count: Int64 = 0
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(Int64.self) { count = value }
            return count
        }
    }
}
