import DaemonConfig
import DiskQueue
import Foundation
import Logging
import PostgresNIO
import PostgresSupport
import Synchronization
import Worker
import XeroWebhooks

/// Cluster mode's shared queue (`queue.backend: "postgres"`), in three tables:
/// `xero_webhookd_events` (each accepted event, as the disk queue would hold it, with its tenant),
/// `xero_webhookd_lanes` (per tenant: which daemon holds it until when, and when it may be tried
/// again) and `xero_webhookd_dead_events` (what failed for good).
///
/// A delivery's events are one transaction (committed with `synchronous_commit = on`) before the
/// receiver answers 200: the disk queue's promise. It first locks the lanes of its tenants, so
/// two deliveries for one tenant commit in the order of their ids and a worker reading a lane in
/// id order never passes an event that commits later. It is answered within `appendLimit`,
/// under Xero's 5 s, so a database that does not answer gets a 503 (and Xero's retry) rather
/// than Xero's own timeout. A daemon claims free lanes with `FOR UPDATE SKIP LOCKED`; its lease,
/// renewed while it works, expires when it dies, and another daemon takes the lane then.
package final class PostgresEventQueue: EventStore, QueueCounting, Sendable {
    package let location: String
    let client: PostgresClient
    private let runner: Task<Void, Never>
    let events: String, lanes: String, dead: String
    private let migrationsTable: String
    private let migrated = Mutex(false)
    let logger = Logger(label: "xero-webhookd")
    /// How long one statement may take before the caller gets an error.
    let statementLimit: Duration
    /// How long a delivery's append may take before the receiver answers 503.
    let appendLimit: Duration

    /// - Parameter schema: where the tables are (nil: the search path's first schema).
    package init(endpoint: PostgresEndpoint, schema: String? = nil, statementLimit: Duration = .seconds(10),
                 appendLimit: Duration = .seconds(4), sessionName: String = "xero-webhookd") {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 4, settings: PostgresEndpoint.shortWaits, name: sessionName))
        self.client = client
        self.statementLimit = statementLimit
        self.appendLimit = appendLimit
        let prefix = schema.map { "\"\($0)\"." } ?? ""
        events = prefix + "\"xero_webhookd_events\""
        lanes = prefix + "\"xero_webhookd_lanes\""
        dead = prefix + "\"xero_webhookd_dead_events\""
        migrationsTable = prefix + "\"xero_webhookd_migrations\""
        location = "\(endpoint)"
        runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

    /// Ends the connection pool.
    package func close() async {
        runner.cancel()
        await runner.value
    }

    /// For a metrics scrape: within a second, or nil.
    package func pendingAndDead() async -> (pending: Int, dead: Int)? {
        guard let counts = try? await Deadline.run(within: .seconds(1), { try await self.counts() }) else { return nil }
        return (counts.events, counts.dead)
    }

    // MARK: Receiving

    package func append(_ payloads: [[UInt8]], completion: @escaping @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void) {
        // The tenant is each lane's key; a record without one goes to lane "" and is
        // dead-lettered there with the reason.
        let tenants = payloads.map { payload in
            (try? QueuedItem.decode(QueueRecord(sequence: 0, payload: payload)))?.key.tenantID.lowercased() ?? ""
        }
        Task {
            do {
                let ids = try await Deadline.run(within: appendLimit) { try await self.insert(payloads, tenants: tenants) }
                completion(.success(ids))
            } catch {
                completion(.failure(.unavailable(PostgresErrorText.describe(error))))
            }
        }
    }

    private func insert(_ payloads: [[UInt8]], tenants: [String]) async throws -> Range<UInt64> {
        try await migrateIfNeeded()
        var bindings = PostgresBindings()
        bindings.append(tenants)
        bindings.append(payloads.map { ByteBuffer(bytes: $0) })
        let (events, lanes, logger) = (self.events, self.lanes, self.logger)
        var lanesBindings = PostgresBindings()
        lanesBindings.append(Array(Set(tenants)).sorted())
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            // The lanes first, locked in one order (no deadlock between two deliveries): a
            // second delivery for a tenant takes its ids only once this one has committed.
            try await connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(lanes) (tenant) SELECT t FROM unnest($1::text[]) AS t ON CONFLICT (tenant) DO NOTHING
                """, binds: lanesBindings), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT 1 FROM \(lanes) WHERE tenant = ANY($1::text[]) ORDER BY tenant FOR UPDATE
                """, binds: lanesBindings), logger: logger)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                WITH inserted AS (
                    INSERT INTO \(events) (tenant, record) SELECT * FROM unnest($1::text[], $2::bytea[]) RETURNING id
                )
                SELECT min(id), max(id) FROM inserted
                """, binds: bindings), logger: logger)
            var range: Range<UInt64> = 0..<0
            for try await (first, last) in rows.decode((Int64, Int64).self) { range = UInt64(first)..<UInt64(last) + 1 }
            return range
        }
    }

    // MARK: Tables

    func migrateIfNeeded() async throws {
        if migrated.withLock({ $0 }) { return }
        let steps: [(version: Int32, statements: [String])] = [
            (1, [
                """
                CREATE TABLE \(events) (
                    id bigserial PRIMARY KEY,
                    tenant text NOT NULL,
                    record bytea NOT NULL,
                    received_at timestamptz NOT NULL DEFAULT now(),
                    attempts integer NOT NULL DEFAULT 0,
                    first_failure timestamptz,
                    last_error text
                )
                """,
                "CREATE INDEX ON \(events) (tenant, id)",
                """
                CREATE TABLE \(lanes) (
                    tenant text PRIMARY KEY,
                    owner text,
                    lease_until timestamptz,
                    not_before timestamptz NOT NULL DEFAULT now(),
                    reason text
                )
                """,
                """
                CREATE TABLE \(dead) (
                    id bigint PRIMARY KEY,
                    tenant text NOT NULL,
                    record bytea NOT NULL,
                    received_at timestamptz NOT NULL,
                    attempts integer NOT NULL,
                    died_at timestamptz NOT NULL DEFAULT now(),
                    reason text NOT NULL
                )
                """,
            ]),
        ]
        try await MigrationRunner.run(client, name: "xero_webhookd_queue", migrationsTable: migrationsTable, steps: steps, logger: logger)
        migrated.withLock { $0 = true }
    }
}
