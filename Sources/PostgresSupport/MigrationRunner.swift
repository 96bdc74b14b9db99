import Logging
import PostgresNIO

/// Applies numbered schema steps a database lacks, all in one transaction under a
/// transaction-scoped advisory lock, so daemons starting at once wait for each other and each
/// step runs exactly once. Applied versions are recorded per name in `xero_webhookd_migrations`.
/// A step is never edited once released: changes are new steps.
package enum MigrationRunner {
    /// Key of the advisory lock every daemon takes before looking at the schema ("xwhd" in ASCII).
    package static let lockKey: Int64 = 0x7877_6864

    /// Brings the schema named `name` to its last step; returns the versions this call applied
    /// (empty when another daemon, or an earlier start, already had). Commits before it returns.
    /// - Parameter migrationsTable: the quoted migrations table, e.g. `"schema"."xero_webhookd_migrations"`.
    @discardableResult
    package static func run(_ client: PostgresClient, name: String, migrationsTable: String,
                            steps: [(version: Int32, statements: [String])], logger: Logger) async throws -> [Int32] {
        try await PostgresSession.transaction(client, logger: logger) { connection in
            // Daemons starting at once queue here; a session's own lock_timeout is for short waits.
            try await connection.query("SET LOCAL lock_timeout = '120s'", logger: logger)
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(migrationsTable) (
                    table_name text NOT NULL,
                    version integer NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (table_name, version)
                )
                """), logger: logger)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0) FROM \(migrationsTable) WHERE table_name = $1",
                                                                binds: binds(name)), logger: logger)
            var current: Int32 = 0
            for try await (version) in rows.decode(Int32.self) { current = version }
            let known = steps.last?.version ?? 0
            guard current <= known else { throw NewerSchema(name, current: current, known: known) }
            var applied: [Int32] = []
            for step in steps where step.version > current {
                for statement in step.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(migrationsTable) (table_name, version) VALUES ($1, $2)",
                                                         binds: binds(name, step.version)), logger: logger)
                applied.append(step.version)
            }
            return applied
        }
    }

    /// For a reader that must not create or migrate (an operator's command): every one of
    /// `tables` (quoted, as `run` creates them) must be there, and the schema named `name` at a
    /// version this build knows (`known`). `absent` says why they may be missing.
    package static func verify(_ client: PostgresClient, name: String, migrationsTable: String, tables: [String], known: Int32,
                               absent: String, logger: Logger) async throws {
        var bindings = PostgresBindings()
        bindings.append(tables)
        bindings.append(migrationsTable)
        let (missing, current) = try await PostgresSession.with(client, idempotent: true) { connection in
            var (missing, versioned): ([String], Bool) = ([], false)
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT array(SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL), to_regclass($2) IS NOT NULL
                """, binds: bindings), logger: logger).decode(([String], Bool).self) {
                (missing, versioned) = row
            }
            var current: Int32 = 0
            if versioned {
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0) FROM \(migrationsTable) WHERE table_name = $1",
                                                                    binds: binds(name)), logger: logger)
                for try await version in rows.decode(Int32.self) { current = version }
            }
            return (missing, current)
        }
        guard missing.isEmpty else { throw MissingTables(tables: missing, absent: absent) }
        guard current <= known else { throw NewerSchema(name, current: current, known: known) }
    }

    /// The schema was migrated by a newer daemon: this one does not write into it.
    package struct NewerSchema: Error, CustomStringConvertible {
        package let description: String

        init(_ name: String, current: Int32, known: Int32) {
            description = "\(name) is at schema version \(current), newer than this xero-webhookd knows (\(known)): "
                + "a newer daemon migrated it; run that version here too"
        }
    }

    /// Tables a reader needs are not there (`verify`).
    package struct MissingTables: Error, CustomStringConvertible {
        let tables: [String]
        let absent: String
        package var description: String { "no table \(tables.joined(separator: ", ")) there: \(absent)" }
    }

    private static func binds(_ name: String, _ version: Int32? = nil) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(name)
        if let version { bindings.append(version) }
        return bindings
    }
}
