import DaemonConfig
import Foundation
import Logging
import PostgresNIO
import Synchronization
import XeroAPI

/// The token set of cluster mode in one PostgreSQL row (table `xero_webhookd_tokens`, one row per
/// connection name).
///
/// A renewal holds a lease on the row, not an open transaction: a short transaction takes the
/// row (`SELECT … FOR UPDATE`) and, when no other daemon's lease is current, commits
/// `lease_owner`/`lease_until`; the refresh at Xero runs; a second transaction writes the rotated
/// set and clears the lease, only if the lease is still this renewal's. Every other daemon waits
/// while a lease is current, then reads the new set. Because the lease is committed, it outlives
/// the holder's database session: a session the server kills, or a daemon killed, mid-refresh
/// does not let a second daemon refresh while the first refresh may still be at Xero — the
/// others wait until the lease expires (`leaseLength`, longer than a refresh with its retries).
/// The rotated set is committed (synchronous commit) before any daemon uses its access token.
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
    private let leaseLength: Duration
    private let statementLimit: Duration = .seconds(30)

    /// - Parameters:
    ///   - table: a lower-case SQL identifier, optionally schema-qualified (checked by the caller).
    ///   - name: the connection whose set this is.
    ///   - leaseLength: how long a renewal may hold the set before another daemon may renew;
    ///     longer than one refresh with its retries (`Serve` derives it from the request timeout).
    ///   - sessionName: its sessions' `application_name`.
    package init(endpoint: PostgresEndpoint, table: String = PostgresTokenStore.defaultTable, name: String = "organisation",
                 leaseLength: Duration = .seconds(100), sessionName: String = "xero-webhookd") {
        // No statement here waits long: a lock is held only for a short transaction.
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 2, settings: PostgresEndpoint.shortWaits, name: sessionName))
        self.leaseLength = leaseLength
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
            return try await Deadline.run(within: statementLimit) { try await self.loadState() }
        } catch {
            throw Failure(description: PostgresErrorText.describe(error))
        }
    }

    package func offer(_ set: StoredTokenSet) async throws -> Bool {
        do {
            return try await Deadline.run(within: statementLimit) { try await self.store(set) }
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
        return try await PostgresSession.with(client, idempotent: true) { connection in
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
        return try await PostgresSession.with(client, idempotent: true) { connection in
            var stored = false
            for try await _ in try await connection.query(query, logger: logger) { stored = true }
            return stored
        }
    }

    /// A renewal that found its lease taken over when it came to store its change: it ran past
    /// `leaseLength`, and another daemon renewed meanwhile.
    package struct LeaseLost: Error, CustomStringConvertible {
        package var description: String { "the renewal outlasted its lease and another daemon renewed; its change was not stored" }
    }

    /// A renewal whose set was replaced while it was at Xero (an operator's new authorisation
    /// offered meanwhile): its change is not stored, and the new set is used from now on.
    package struct Superseded: Error, CustomStringConvertible {
        package var description: String { "a new token set was stored during the renewal (a new authorisation); the renewal's result is not used" }
    }

    private func renewLocked<Result: Sendable>(_ body: @escaping @Sendable (SharedTokenState) async -> (change: SharedTokenChange, result: Result)) async throws -> Result {
        try await Deadline.run(within: statementLimit) { try await self.migrateIfNeeded() }
        let owner = UUID().uuidString
        let (state, stored) = try await waitForLease(owner)
        let (change, result) = await body(state)
        // Stored even when the caller was cancelled meanwhile (a task of its own, which the
        // caller's cancellation does not reach), and tried again on a new connection when the
        // first attempt's session was lost: otherwise the lease would hold every daemon back for
        // its whole length, and the set Xero just rotated would be lost.
        let finishing = Task { () async throws -> Bool in
            var attempt = 0
            while true {
                attempt += 1
                do {
                    return try await Deadline.run(within: self.statementLimit) { try await self.finish(owner, change, expected: stored) }
                } catch let error where attempt < 3 && !(error is Superseded) {
                    try? await Task.sleep(for: .milliseconds(200 * attempt))
                }
            }
        }
        guard try await finishing.value else { throw LeaseLost() }
        return result
    }

    /// Takes the lease for `owner`, waiting while another daemon's is current (it ends with that
    /// renewal or at its expiry); returns the state stored when it was taken, and the set's text.
    private func waitForLease(_ owner: String) async throws -> (SharedTokenState, String?) {
        let waitUntil = ContinuousClock.now + leaseLength * 2 + statementLimit
        while true {
            if let taken = try await Deadline.run(within: statementLimit, { try await self.takeLease(owner) }) { return taken }
            guard ContinuousClock.now < waitUntil else {
                throw Failure(description: "another daemon's renewal has held the token set for longer than \(leaseLength * 2)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The stored state with this renewal's lease committed (and the set's text), or nil while
    /// another lease is current. The lease runs from the moment it is written, not from the
    /// transaction's start (a wait for the row does not shorten it).
    private func takeLease(_ owner: String) async throws -> (SharedTokenState, String?)? {
        let (quoted, name, logger, lease) = (self.quoted, self.name, self.logger, Self.milliseconds(leaseLength))
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(quoted) (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                                                     binds: Self.binds(name)), logger: logger)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT token_set, refusal, coalesce(lease_until > clock_timestamp(), false) FROM \(quoted) WHERE name = $1 FOR UPDATE
                """, binds: Self.binds(name)), logger: logger)
            var state = SharedTokenState(set: nil)
            var stored: String?
            var leased = false
            for try await (text, refusal, current) in rows.decode((String?, String?, Bool).self) {
                state = SharedTokenState(set: text.flatMap { StoredTokenSet.decode(Array($0.utf8)) }, refusal: refusal)
                stored = text
                leased = current
            }
            guard !leased else { return nil }
            try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE \(quoted) SET lease_owner = $2, lease_until = clock_timestamp() + interval '\(lease) milliseconds' WHERE name = $1
                """, binds: Self.binds(name, owner)), logger: logger)
            return (state, stored)
        }
    }

    /// Applies `change` and clears the lease, when the lease is still `owner`'s; false when it is
    /// not. A change is applied only to the set the renewal started from (`expected`): when
    /// another was stored meanwhile, only the lease is cleared, and `Superseded` is thrown.
    private func finish(_ owner: String, _ change: SharedTokenChange, expected: String?) async throws -> Bool {
        let (quoted, name, logger) = (self.quoted, self.name, self.logger)
        let query: PostgresQuery
        var bindings = Self.binds(name, owner)
        bindings.append(expected)
        switch change {
        case .keep:
            query = PostgresQuery(unsafeSQL: """
                UPDATE \(quoted) SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND lease_owner = $2 AND $3::text IS NOT DISTINCT FROM $3 RETURNING name
                """, binds: bindings)
        case let .replace(set):
            bindings.append(String(decoding: set.encoded(), as: UTF8.self))
            query = PostgresQuery(unsafeSQL: """
                UPDATE \(quoted) SET token_set = $4, set_updated_at = now(), refusal = NULL, refused_at = NULL, updated_at = now(),
                    renewals = renewals + 1, lease_owner = NULL, lease_until = NULL
                WHERE name = $1 AND lease_owner = $2 AND token_set IS NOT DISTINCT FROM $3 RETURNING name
                """, binds: bindings)
        case let .refuse(reason):
            bindings.append(reason)
            query = PostgresQuery(unsafeSQL: """
                UPDATE \(quoted) SET refusal = $4, refused_at = now(), updated_at = now(), lease_owner = NULL, lease_until = NULL
                WHERE name = $1 AND lease_owner = $2 AND token_set IS NOT DISTINCT FROM $3 RETURNING name
                """, binds: bindings)
        }
        let outcome: Bool? = try await PostgresSession.transaction(client, logger: logger) { connection in
            var applied = false
            for try await _ in try await connection.query(query, logger: logger) { applied = true }
            if applied { return true }
            // Not applied: the lease is gone, or the set changed under it (then the lease is let go).
            let cleared = try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE \(quoted) SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND lease_owner = $2 RETURNING name
                """, binds: Self.binds(name, owner)), logger: logger)
            var held = false
            for try await _ in cleared { held = true }
            return held ? nil : false
        }
        guard let outcome else { throw Superseded() }
        return outcome
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
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
            // A renewal's lease, committed before it calls Xero (see the type's comment).
            (3, ["ALTER TABLE \(quoted) ADD COLUMN lease_owner text, ADD COLUMN lease_until timestamptz"]),
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
