import DaemonConfig
import PostgresNIO
import PostgresSink
import PostgresTestSupport
import Testing

/// Migrations at start: applied once, whether a daemon starts twice or several start at once.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct MigrationTests {
    private func appliedVersions(_ table: String, _ client: PostgresClient) async throws -> [Int32] {
        let rows = try await client.query("SELECT version FROM xero_webhookd_migrations WHERE table_name = \(table) ORDER BY version")
        var versions: [Int32] = []
        for try await version in rows.decode(Int32.self) { versions.append(version) }
        return versions
    }

    @Test func runningTwiceAppliesEachVersionOnce() async throws {
        let table = try #require(ResourceTable(TestPostgres.uniqueTable("twice")))
        let latest = Migrations.latest(table)
        try await Fixtures.withClient { client in
            let first = try await Migrations.run(client, table: table, logger: Logger(label: "test"))
            let second = try await Migrations.run(client, table: table, logger: Logger(label: "test"))
            #expect(first == Array(1...latest))
            #expect(second.isEmpty)
            #expect(try await appliedVersions(table.name, client) == Array(1...latest))
        }
    }

    @Test func daemonsStartingAtOnceApplyEachVersionExactlyOnce() async throws {
        let table = try #require(ResourceTable(TestPostgres.uniqueTable("concurrent")))
        let latest = Migrations.latest(table)
        // Eight sinks, each with its own client and connections, as eight daemons would have.
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let applied = try await withThrowingTaskGroup(of: [Int32].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let sink = PostgresSink(endpoint: endpoint, table: table, timeout: .seconds(600))
                    sink.start()  // its own migration runs too, concurrently with the explicit one
                    let versions = try await sink.migrateIfNeeded()
                    await sink.stop()
                    return versions
                }
            }
            var all: [[Int32]] = []
            for try await versions in group { all.append(versions) }
            return all
        }
        // Each version was applied by exactly one of them (the start's own call may have done it).
        #expect(applied.flatMap { $0 }.count <= latest)
        try await Fixtures.withClient { client in
            #expect(try await appliedVersions(table.name, client) == Array(1...latest))
            let columns = try await client.query("SELECT count(*) FROM information_schema.columns WHERE table_name = \(table.name)")
            for try await count in columns.decode(Int64.self) { #expect(count == 12) }
        }
    }

    @Test func aSchemaQualifiedTableKeepsItsMigrationsInItsSchema() async throws {
        let schema = TestPostgres.uniqueTable("mirror")
        let table = try #require(ResourceTable("\(schema).xero_resources"))
        try await Fixtures.withClient { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"))
            let applied = try await Migrations.run(client, table: table, logger: Logger(label: "test"))
            #expect(applied == Array(1...Migrations.latest(table)))
            let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(schema).xero_webhookd_migrations"))
            for try await count in rows.decode(Int64.self) { #expect(count == Int64(applied.count)) }
        }
    }
}
