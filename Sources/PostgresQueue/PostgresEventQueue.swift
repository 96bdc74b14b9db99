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
    /// Deliveries waiting for the next group commit, and whether one is under way.
    private let waiting = Mutex<(requests: [Waiting], committing: Bool)>(([], false))
    /// At most this many deliveries, and this many bytes of events (unless one delivery is
    /// larger), share one transaction.
    static let batchDeliveries = 64
    static let batchBytes = 4 << 20
    let logger = Logger(label: "xero-webhookd")
    /// How long one statement may take before the caller gets an error.
    let statementLimit: Duration
    /// How long a delivery's append may take before the receiver answers 503.
    let appendLimit: Duration

    /// Whether it creates or migrates its tables when they are not there (a daemon) or says so
    /// (an operator's command: a wrong URL or schema should not answer "pending: 0").
    let createsTables: Bool

    /// - Parameter schema: where the tables are (nil: the search path's first schema).
    package init(endpoint: PostgresEndpoint, schema: String? = nil, statementLimit: Duration = .seconds(10),
                 appendLimit: Duration = .seconds(4), sessionName: String = "xero-webhookd", createsTables: Bool = true) {
        self.createsTables = createsTables
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

    package func append(_ payloads: [[UInt8]], tenants: [String], completion: @escaping @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void) {
        guard !payloads.isEmpty else { return completion(.success(0..<0)) }
        precondition(tenants.count == payloads.count, "one tenant per event")
        let request = Waiting(payloads: payloads, tenants: tenants.map(Self.lane(of:)), answer: Answer(completion, within: appendLimit))
        let first = waiting.withLock { state in
            state.requests.append(request)
            defer { state.committing = true }
            return !state.committing
        }
        if first { Task { await self.commitWaiting() } }
    }

    /// The lane an event with `tenantId` `tenant` waits in: the tenant in lower case. An event
    /// without one, or with one no tenant id could be (anything but printable ASCII, which a
    /// text column or a database's encoding may refuse, or longer than 255 bytes, which an
    /// index may refuse), waits in lane "": the server would refuse its delivery every time
    /// Xero sent it again, where the disk queue accepts it. The worker dead-letters it there,
    /// or fetches it under the tenantId its record holds.
    static func lane(of tenant: String) -> String {
        // Checked in lower case: the worker keys a tenant by its lower case, and some letters
        // (the Kelvin sign) have an ASCII one; their events wait in that tenant's lane.
        let lane = tenant.lowercased()
        guard lane.utf8.count <= 255, lane.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return "" }
        return lane
    }

    /// A delivery waiting for its events to be committed.
    struct Waiting: Sendable {
        let payloads: [[UInt8]]
        let tenants: [String]
        let answer: Answer
    }

    /// A delivery's answer, given once: by its commit, or by its time limit (counted from when
    /// it came, so time spent waiting for the commits before it counts) when that passes first.
    /// A commit that ends after the limit may still have stored the events: Xero, answered 503,
    /// sends them again and they are delivered twice, never lost.
    final class Answer: Sendable {
        private let completion: Mutex<(@Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void)?>
        private let timer: Mutex<Task<Void, Never>?> = Mutex(nil)
        let answerBy: ContinuousClock.Instant

        init(_ completion: @escaping @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void, within limit: Duration) {
            self.completion = Mutex(completion)
            answerBy = .now + limit
            let task = Task { [answerBy] in
                guard (try? await Task.sleep(until: answerBy)) != nil else { return }
                self.give(.failure(.unavailable("not committed within \(limit)")))
            }
            timer.withLock { $0 = task }
        }

        var given: Bool { completion.withLock { $0 == nil } }

        func give(_ result: Result<Range<UInt64>, DiskQueueError>) {
            guard let completion = completion.withLock({ $0.take() }) else { return }
            timer.withLock { $0?.cancel() }
            completion(result)
        }
    }

    /// Group commit: one transaction at a time per daemon, for every delivery that came while
    /// the one before was committing. Deliveries for one tenant otherwise commit one at a time
    /// (each waits for the last one's lane lock and its own flush to disk).
    private func commitWaiting() async {
        while true {
            let batch: [Waiting] = waiting.withLock { state in
                state.requests.removeAll { $0.answer.given }  // answered 503 at their limit while they waited
                var (taken, bytes) = (0, 0)
                for request in state.requests {
                    bytes += request.payloads.reduce(0) { $0 + $1.count }
                    if taken > 0 && (taken == Self.batchDeliveries || bytes > Self.batchBytes) { break }
                    taken += 1
                }
                let batch = Array(state.requests.prefix(taken))
                state.requests.removeFirst(taken)
                if batch.isEmpty { state.committing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await commit(batch)
        }
    }

    /// Commits `batch` in one transaction. When the server refuses the data of one of its
    /// deliveries (a value a column cannot hold), the halves are committed apart, and theirs,
    /// until the refused ones stand alone: the others keep their 200.
    private func commit(_ batch: [Waiting]) async {
        let batch = batch.filter { !$0.answer.given }  // answered 503 at their limit meanwhile
        guard let answerBy = batch.map(\.answer.answerBy).max() else { return }
        do {
            let ids = try await Deadline.run(within: ContinuousClock.now.duration(to: answerBy)) {
                try await self.insert(batch.flatMap(\.payloads), tenants: batch.flatMap(\.tenants))
            }
            var next = 0
            for request in batch {
                let own = ids[next..<next + request.payloads.count]
                next += request.payloads.count
                request.answer.give(.success(UInt64(own.first!)..<UInt64(own.last!) + 1))
            }
        } catch where batch.count > 1 && PostgresErrorText.refusesData(error) {
            await commit(Array(batch[..<(batch.count / 2)]))
            await commit(Array(batch[(batch.count / 2)...]))
        } catch {
            let reason = PostgresErrorText.describe(error)
            for request in batch { request.answer.give(.failure(.unavailable(reason))) }
        }
    }

    /// The ids given to `payloads`, in their order.
    private func insert(_ payloads: [[UInt8]], tenants: [String]) async throws -> [Int64] {
        try await migrateIfNeeded()
        var bindings = PostgresBindings()
        bindings.append(tenants)
        bindings.append(payloads.map { ByteBuffer(bytes: $0) })
        let (events, lanes, logger, count) = (self.events, self.lanes, self.logger, payloads.count)
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
            // The rows are inserted, and their ids drawn, in the order of the arrays.
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(events) (tenant, record) SELECT * FROM unnest($1::text[], $2::bytea[]) RETURNING id
                """, binds: bindings), logger: logger)
            var ids: [Int64] = []
            ids.reserveCapacity(count)
            for try await id in rows.decode(Int64.self) { ids.append(id) }
            guard ids.count == count else { throw InsertedRows(expected: count, got: ids.count) }
            return ids.sorted()
        }
    }

    struct InsertedRows: Error, CustomStringConvertible {
        let expected: Int, got: Int
        var description: String { "the insert returned \(got) ids for \(expected) events" }
    }

    // MARK: Tables

    /// Creates or migrates the tables now (a daemon at start), so an operator's command finds
    /// them before the first delivery.
    package func prepare() async throws { try await migrateIfNeeded() }

    func migrateIfNeeded() async throws {
        if migrated.withLock({ $0 }) { return }
        if createsTables {
            try await MigrationRunner.run(client, name: "xero_webhookd_queue", migrationsTable: migrationsTable, steps: steps, logger: logger)
        } else {
            try await MigrationRunner.verify(client, name: "xero_webhookd_queue", migrationsTable: migrationsTable, tables: [events, lanes, dead],
                                             known: steps.last?.version ?? 0,
                                             absent: "no daemon with queue.backend postgres has started against this database and schema "
                                                 + "(cluster.postgresURL, and the schema of cluster.tokenTable) yet", logger: logger)
        }
        migrated.withLock { $0 = true }
    }

    /// The queue's schema, step by step. A released step is never edited: changes are new steps.
    private var steps: [(version: Int32, statements: [String])] {
        [
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
    }
}
