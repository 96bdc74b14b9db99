import DaemonConfig
import Foundation
import Logging
import PostgresNIO
import PostgresSupport
import Synchronization
import Worker

/// Upserts one row per resource into a PostgreSQL table (see `Migrations` for its columns) and
/// sends a `NOTIFY <table>` with `tenant/CATEGORY/resource` for each row it changed.
///
/// A delivery is one transaction: each record is upserted inside a savepoint (a record the
/// server refuses fails alone), and no record is reported accepted before `COMMIT` returned,
/// so the worker acknowledges events only once their rows are durable in the database.
/// A row is replaced only by a fetch at least as recent (`fetched_at`) whose `UpdatedDateUTC`,
/// when both have one, is not older: a delayed, older fetch never overwrites a newer one.
///
/// The connection pool runs from `start` to `stop`; migrations run at start and, until they have
/// succeeded, again before each delivery.
package final class PostgresSink: ManagedSink, Sendable {
    package let table: ResourceTable
    private let client: PostgresClient
    private let timeout: Duration
    private let state = Mutex(State())

    private struct State {
        var runner: Task<Void, Never>?
        var migrated = false
        var logger = Logger(label: "xero-webhookd")
    }

    /// - Parameters:
    ///   - timeout: how long one delivery (or the migration before it) may take before it fails.
    package init(endpoint: PostgresEndpoint, table: ResourceTable, timeout: Duration = .seconds(30)) {
        self.table = table
        self.timeout = timeout
        client = PostgresClient(configuration: endpoint.clientConfiguration())
    }

    /// The maker the executable hands to `SinkFactory` (the table name is already validated).
    package static let maker: @Sendable (PostgresEndpoint, String, Duration) -> any Sink = { endpoint, table, timeout in
        PostgresSink(endpoint: endpoint, table: ResourceTable(table) ?? ResourceTable(PostgresSinkSettings.defaultTable)!, timeout: timeout)
    }

    package func start() {
        // The daemon's logger exists only once logging is set up, after the sink was made.
        let logger = Logger(label: "xero-webhookd")
        let client = self.client
        let started: Bool = state.withLock { state in
            guard state.runner == nil else { return false }
            state.logger = logger
            state.runner = Task { await client.run() }
            return true
        }
        guard started else { return }
        Task {
            do {
                let applied = try await migrateIfNeeded()
                logger.info("postgres sink ready", metadata: ["table": "\(table.name)", "migrationsApplied": "\(applied.isEmpty ? "none" : applied.map(String.init).joined(separator: ","))"])
            } catch {
                guard self.state.withLock({ $0.runner != nil }) else { return }  // stopped meanwhile: nothing to report
                logger.error("postgres sink cannot prepare its table; deliveries retry it", metadata: ["table": "\(table.name)", "error": "\(Self.describe(error))"])
            }
        }
    }

    package func stop() async {
        let runner = state.withLock { state in
            defer { state.runner = nil }
            return state.runner
        }
        runner?.cancel()
        await runner?.value
    }

    /// Applies missing migrations unless this sink already did; returns the versions applied.
    @discardableResult
    package func migrateIfNeeded() async throws -> [Int32] {
        if state.withLock({ $0.migrated }) { return [] }
        let applied = try await Migrations.run(client, table: table, logger: state.withLock { $0.logger })
        state.withLock { $0.migrated = true }
        return applied
    }

    package func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
        let rows = records.map(ResourceRow.init)
        var results: [Result<Void, SinkError>] = rows.map {
            $0 == nil ? .failure(SinkError("the postgres sink stores fetched records; this record has none (worker.mode events)")) : .success(())
        }
        let accepted = rows.enumerated().compactMap { index, row in row.map { (index, $0) } }
        guard !accepted.isEmpty else { return results }
        let outcome: Result<[Int: String], any Error>
        do {
            outcome = .success(try await Deadline.run(within: timeout) { try await self.write(accepted.map(\.1)) })
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case let .success(refused):
            for (position, (index, _)) in accepted.enumerated() {
                if let reason = refused[position] { results[index] = .failure(SinkError("postgres refused the row: \(reason)")) }
            }
        case let .failure(error):
            let failure = SinkError("postgres: \(Self.describe(error))")
            for (index, _) in accepted { results[index] = .failure(failure) }
        }
        return results
    }

    /// Writes `rows` in one transaction; returns the reasons for the rows the server refused,
    /// by position. Returns only after COMMIT succeeded; throws when the transaction failed.
    private func write(_ rows: [ResourceRow]) async throws -> [Int: String] {
        try await migrateIfNeeded()
        let logger = state.withLock { $0.logger }
        let table = self.table
        // The server ends a statement that waits past the delivery's timeout (a lock another
        // session holds): cancelling the client's task alone does not stop a query in flight.
        let limit = max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(limit)"), logger: logger)
            var refused: [Int: String] = [:]
            for (position, row) in rows.enumerated() {
                try await connection.query("SAVEPOINT row", logger: logger)
                do {
                    let changed = try await connection.query(Self.upsert(row, into: table), logger: logger)
                    var wrote = false
                    for try await _ in changed { wrote = true }
                    if wrote {
                        try await connection.query("SELECT pg_notify(\(table.channel), \(row.notification))", logger: logger)
                    }
                    try await connection.query("RELEASE SAVEPOINT row", logger: logger)
                } catch let error as PSQLError where Self.refusesRow(error) {
                    // The server refused this row's data (e.g. a \u0000 escape, which jsonb cannot
                    // hold); the others go on. Anything else (a timeout, a lost session) fails
                    // the whole delivery, to be retried.
                    try await connection.query("ROLLBACK TO SAVEPOINT row", logger: logger)
                    refused[position] = Self.describe(error)
                }
            }
            return refused
        }
    }

    /// `INSERT … ON CONFLICT DO UPDATE … WHERE <not older>`, returning a row when it wrote one.
    static func upsert(_ row: ResourceRow, into table: ResourceTable) -> PostgresQuery {
        var bindings = PostgresBindings()
        bindings.append(row.tenantID)
        bindings.append(row.category)
        bindings.append(row.resourceID)
        bindings.append(row.resource.map { JSONBText(bytes: $0) })
        bindings.append(row.notFound)
        bindings.append(row.eventIDs)
        bindings.append(row.sequence)
        bindings.append(row.eventType)
        // Milliseconds since the epoch, made times by the server: exact to the microsecond,
        // where a Date's floating point stored …0.123 as …0.122999.
        bindings.append(row.eventDateUTC)
        bindings.append(row.receivedAt)
        bindings.append(row.fetchedAt)
        bindings.append(row.updatedDateUTC)
        return PostgresQuery(unsafeSQL: """
            INSERT INTO \(table.quoted) AS r (tenant_id, category, resource_id, resource, not_found, event_ids, sequence,
                event_type, event_date_utc, received_at, fetched_at, updated_date_utc)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \(Self.time(9)), \(Self.time(10)), \(Self.time(11)), \(Self.time(12)))
            ON CONFLICT (tenant_id, category, resource_id) DO UPDATE SET
                resource = EXCLUDED.resource, not_found = EXCLUDED.not_found, event_ids = EXCLUDED.event_ids,
                sequence = EXCLUDED.sequence, event_type = EXCLUDED.event_type, event_date_utc = EXCLUDED.event_date_utc,
                received_at = EXCLUDED.received_at, fetched_at = EXCLUDED.fetched_at, updated_date_utc = EXCLUDED.updated_date_utc
            WHERE r.fetched_at <= EXCLUDED.fetched_at
              AND (r.updated_date_utc IS NULL OR EXCLUDED.updated_date_utc IS NULL OR r.updated_date_utc <= EXCLUDED.updated_date_utc)
            RETURNING 1
            """, binds: bindings)
    }

    /// Parameter `n`, milliseconds since the epoch (or null), as a `timestamptz`.
    private static func time(_ n: Int) -> String { "timestamptz 'epoch' + $\(n)::int8 * interval '1 millisecond'" }

    /// Whether `error` refuses one row's data (SQLSTATE class 22, data exception; 23, integrity
    /// constraint; 54, a limit such as an oversized value), with the session still usable.
    static func refusesRow(_ error: PSQLError) -> Bool {
        PostgresErrorText.refusesData(error)
    }

    /// A line for the log and the dead letter: the server's message and SQLSTATE when it sent
    /// one, else the client's error (never the query's parameters).
    package static func describe(_ error: any Error) -> String {
        return PostgresErrorText.describe(error)
    }
}
