import DaemonConfig
import Foundation
import Logging
import PostgresNIO
import PostgresSink
import PostgresSupport
import PostgresTestSupport
import Testing
import Worker

/// What bounds the postgres sink: its timeout against a locked table, a schema newer than it
/// knows, a table name that is its own migrations table.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct SinkBoundsTests {
    private func ok(_ results: [Result<Void, SinkError>]) -> Bool { results.allSatisfy { (try? $0.get()) != nil } }

    /// Another session holds the table (a user's long migration): the delivery fails within
    /// about its timeout instead of hanging the lane.
    @Test func theTimeoutBoundsADeliveryBlockedOnALock() async throws {
        let table = TestPostgres.uniqueTable("blocked")
        // The table made first, without a tight timeout (the suite runs beside the others).
        let setup = try Fixtures.sink(table: table)
        #expect(ok(await setup.deliver([try Fixtures.record(id: "inv-0", resource: "{}", fetchedAt: "2026-11-29T01:00:00.000Z")])))
        await setup.stop()
        let sink = try Fixtures.sink(table: table, timeout: .seconds(2))
        let locked = Task {
            try await Fixtures.withClient { client in
                try await client.withTransaction(logger: Logger(label: "test")) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE"), logger: Logger(label: "test"))
                    try await connection.query("SELECT pg_sleep(15)", logger: Logger(label: "test"))
                }
            }
        }
        // Wait until the lock is held, seen in pg_locks.
        var held = false
        let deadline = Date().addingTimeInterval(60)
        while !held && Date() < deadline {
            held = try await Fixtures.withClient { client in
                let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM pg_locks WHERE relation = '\(table)'::regclass AND mode = 'AccessExclusiveLock' AND granted"))
                var count: Int64 = 0
                for try await value in rows.decode(Int64.self) { count = value }
                return count > 0
            }
        }
        #expect(held)
        let started = ContinuousClock.now
        let results = await sink.deliver([try Fixtures.record(id: "inv-1", resource: "{}", fetchedAt: "2026-11-29T01:00:02.000Z")])
        #expect(ContinuousClock.now - started < .seconds(10), "a 2 s timeout took \(ContinuousClock.now - started)")
        #expect(!ok(results), "reported success while the table was locked")
        _ = try? await locked.value
        await sink.stop()
    }

    /// A schema a newer daemon migrated: this one says so and does not write into it.
    @Test func aSchemaNewerThanThisDaemonIsRefused() async throws {
        let table = TestPostgres.uniqueTable("newer")
        let first = try Fixtures.sink(table: table)
        try await first.migrateIfNeeded()
        await first.stop()
        try await Fixtures.withClient { try await $0.query(PostgresQuery(unsafeSQL: "INSERT INTO xero_webhookd_migrations (table_name, version) VALUES ('\(table)', 99)")) }
        let second = try Fixtures.sink(table: table)
        var refusal = ""
        do { try await second.migrateIfNeeded() } catch { refusal = PostgresErrorText.describe(error) }
        #expect(refusal.contains("is at schema version 99, newer than this xero-webhookd knows (1)"), "\(refusal)")
        await second.stop()
    }

    @Test func theMigrationsTablesNameIsNotATableName() {
        #expect(PostgresSinkSettings.tableProblem("xero_webhookd_migrations") != nil)
        #expect(PostgresSinkSettings.tableProblem("mirror.xero_webhookd_migrations") != nil)
        #expect(PostgresSinkSettings.tableProblem("mirror.xero_resources") == nil)
    }
}
