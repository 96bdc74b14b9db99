import DaemonConfig
import Foundation
import Logging
import PostgresNIO
import Synchronization
import XeroAPI

/// The token set of cluster mode in one PostgreSQL row (table `xero_webhookd_tokens`, one row per
/// connection name). A renewal is one transaction that takes the row with `SELECT … FOR UPDATE`:
/// every other daemon's renewal waits on that row lock, and the rotated set is written in the
/// same transaction, so it is committed (synchronous commit) before the lock is let go and
/// before any daemon uses its access token.
package final class PostgresTokenStore: SharedTokenStore, Sendable {
    package static let defaultTable = "xero_webhookd_tokens"

    package let location: String
    private let client: PostgresClient
    private let table: String
    private let quoted: String
    private let migrationsTable: String
    private let name: String
    private let runner: Task<Void, Never>
    private let migrated = Mutex(false)
    private let logger = Logger(label: "xero-webhookd")

    /// - Parameters:
    ///   - table: a lower-case SQL identifier, optionally schema-qualified (checked by the caller).
    ///   - name: the connection whose set this is.
    package init(endpoint: PostgresEndpoint, table: String = PostgresTokenStore.defaultTable, name: String = "organisation") {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 2))
        self.client = client
        self.table = table
        self.name = name
        let parts = table.split(separator: ".").map { "\"\($0)\"" }
        quoted = parts.joined(separator: ".")
        migrationsTable = (parts.dropLast() + ["\"xero_webhookd_migrations\""]).joined(separator: ".")
        location = "\(endpoint) table \(table)"
        runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

    /// Ends the connection pool.
    package func close() async {
        runner.cancel()
        await runner.value
    }

    /// A failure with the server's message (PSQLError's own description hides it).
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    package func load() async throws -> SharedTokenState {
        do {
            return try await loadState()
        } catch {
            throw Failure(description: PostgresErrorText.describe(error))
        }
    }

    package func offer(_ set: StoredTokenSet) async throws -> Bool {
        do {
            return try await store(set)
        } catch {
            throw Failure(description: PostgresErrorText.describe(error))
        }
    }

    package func renew<Result: Sendable>(_ body: @escaping @Sendable (SharedTokenState) async -> (change: SharedTokenChange, result: Result)) async throws -> Result {
        do {
            return try await renewLocked(body)
        } catch {
            throw Failure(description: PostgresErrorText.describe(error))
        }
    }

    private func loadState() async throws -> SharedTokenState {
        try await migrateIfNeeded()
        let (quoted, name, logger) = (self.quoted, self.name, self.logger)
        return try await PostgresSession.with(client) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT token_set, refusal FROM \(quoted) WHERE name = $1", binds: Self.binds(name)),
                                                  logger: logger)
            var state = SharedTokenState(set: nil)
            for try await (text, refusal) in rows.decode((String?, String?).self) {
                state = SharedTokenState(set: text.flatMap { StoredTokenSet.decode(Array($0.utf8)) }, refusal: refusal)
            }
            return state
        }
    }

    private func store(_ set: StoredTokenSet) async throws -> Bool {
        try await migrateIfNeeded()
        let query = PostgresQuery(unsafeSQL: """
            INSERT INTO \(quoted) AS stored (name, token_set, set_updated_at) VALUES ($1, $2, $3)
            ON CONFLICT (name) DO UPDATE SET token_set = EXCLUDED.token_set, set_updated_at = EXCLUDED.set_updated_at, refusal = NULL, refused_at = NULL,
                updated_at = now()
            WHERE stored.token_set IS NULL
               OR (stored.refusal IS NULL AND stored.set_updated_at < EXCLUDED.set_updated_at)
               OR (stored.refusal IS NOT NULL AND stored.refused_at < EXCLUDED.set_updated_at)
            RETURNING name
            """, binds: Self.binds(name, String(decoding: set.encoded(), as: UTF8.self), set.updatedAt))
        let logger = self.logger
        return try await PostgresSession.with(client) { connection in
            var stored = false
            for try await _ in try await connection.query(query, logger: logger) { stored = true }
            return stored
        }
    }

    private func renewLocked<Result: Sendable>(_ body: @escaping @Sendable (SharedTokenState) async -> (change: SharedTokenChange, result: Result)) async throws -> Result {
        try await migrateIfNeeded()
        let (quoted, name, logger) = (self.quoted, self.name, self.logger)
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            // Another daemon's renewal holds the row for one refresh at most (the identity
            // client's timeout); waiting longer than this means something is wrong.
            try await connection.query("SET LOCAL lock_timeout = '120s'", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(quoted) (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                                                     binds: Self.binds(name)), logger: logger)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT token_set, refusal FROM \(quoted) WHERE name = $1 FOR UPDATE",
                                                                binds: Self.binds(name)), logger: logger)
            var state = SharedTokenState(set: nil)
            for try await (text, refusal) in rows.decode((String?, String?).self) {
                state = SharedTokenState(set: text.flatMap { StoredTokenSet.decode(Array($0.utf8)) }, refusal: refusal)
            }
            let (change, result) = await body(state)
            switch change {
            case .keep:
                break
            case let .replace(set):
                try await connection.query(PostgresQuery(unsafeSQL: """
                    UPDATE \(quoted) SET token_set = $2, set_updated_at = now(), refusal = NULL, refused_at = NULL, updated_at = now(),
                        renewals = renewals + 1
                    WHERE name = $1
                    """, binds: Self.binds(name, String(decoding: set.encoded(), as: UTF8.self))), logger: logger)
            case let .refuse(reason):
                try await connection.query(PostgresQuery(unsafeSQL: "UPDATE \(quoted) SET refusal = $2, refused_at = now(), updated_at = now() WHERE name = $1",
                                                         binds: Self.binds(name, reason)), logger: logger)
            }
            return result
        }
    }

    private func migrateIfNeeded() async throws {
        if migrated.withLock({ $0 }) { return }
        let steps: [(version: Int32, statements: [String])] = [
            (1, ["""
                CREATE TABLE \(quoted) (
                    name text PRIMARY KEY,
                    token_set text,
                    set_updated_at timestamptz,
                    refusal text,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    renewals bigint NOT NULL DEFAULT 0
                )
                """]),
            // Times the daemons compare come from the database's clock, not each node's.
            (2, ["ALTER TABLE \(quoted) ADD COLUMN refused_at timestamptz"]),
        ]
        try await MigrationRunner.run(client, name: table, migrationsTable: migrationsTable, steps: steps, logger: logger)
        migrated.withLock { $0 = true }
    }

    private static func binds(_ name: String, _ text: String? = nil, _ date: Date? = nil) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(name)
        if let text { bindings.append(text) }
        if let date { bindings.append(date) }
        return bindings
    }
}
