import Logging
import PostgresNIO
import PostgresSupport

/// The resource table's schema, as numbered steps, applied by `MigrationRunner` (recorded
/// under the table's name).
package enum Migrations {
    /// The steps for `table`, version 1 first.
    package static func steps(_ table: ResourceTable) -> [(version: Int32, statements: [String])] {
        [
            (1, [
                """
                CREATE TABLE \(table.quoted) (
                    tenant_id text NOT NULL,
                    category text NOT NULL,
                    resource_id text NOT NULL,
                    resource jsonb,
                    not_found boolean NOT NULL,
                    event_ids text[] NOT NULL,
                    sequence bigint NOT NULL,
                    event_type text NOT NULL,
                    event_date_utc timestamptz,
                    received_at timestamptz,
                    fetched_at timestamptz NOT NULL,
                    updated_date_utc timestamptz,
                    PRIMARY KEY (tenant_id, category, resource_id)
                )
                """,
                "CREATE INDEX ON \(table.quoted) (tenant_id, category, updated_date_utc)",
            ]),
        ]
    }

    /// The newest version.
    package static func latest(_ table: ResourceTable) -> Int32 { steps(table).last?.version ?? 0 }

    /// Brings `table` to the latest version; returns the versions this call applied (empty when
    /// another daemon, or an earlier start, already had). Commits before it returns.
    @discardableResult
    package static func run(_ client: PostgresClient, table: ResourceTable, logger: Logger) async throws -> [Int32] {
        try await MigrationRunner.run(client, name: table.name, migrationsTable: table.migrationsQuoted, steps: steps(table), logger: logger)
    }
}
