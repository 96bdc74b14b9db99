import Logging
import PostgresNIO

/// The resource table's schema, as numbered steps. `run` applies the steps a database lacks,
/// all in one transaction under a transaction-scoped advisory lock, so daemons starting at once
/// wait for each other and each step runs exactly once. Applied versions are recorded per
/// table in `xero_webhookd_migrations`. A step is never edited once released: changes are new steps.
package enum Migrations {
    /// Key of the advisory lock every daemon takes before looking at the schema ("xwhd" in ASCII).
    package static let lockKey: Int64 = 0x7877_6864

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
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(table.migrationsQuoted) (
                    table_name text NOT NULL,
                    version integer NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (table_name, version)
                )
                """), logger: logger)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0) FROM \(table.migrationsQuoted) WHERE table_name = $1",
                                                                binds: binds(table.name)), logger: logger)
            var current: Int32 = 0
            for try await (version) in rows.decode(Int32.self) { current = version }
            var applied: [Int32] = []
            for step in steps(table) where step.version > current {
                for statement in step.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table.migrationsQuoted) (table_name, version) VALUES ($1, $2)",
                                                         binds: binds(table.name, step.version)), logger: logger)
                applied.append(step.version)
            }
            return applied
        }
    }

    private static func binds(_ name: String, _ version: Int32? = nil) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(name)
        if let version { bindings.append(version) }
        return bindings
    }
}
