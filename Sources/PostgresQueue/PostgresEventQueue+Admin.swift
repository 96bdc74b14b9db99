import DiskQueue
import EventRecord
import Foundation
import PostgresNIO
import PostgresSupport
import Worker

/// What the operator's commands (`queue status`, `queue dump`, `dead …`) read and change in the
/// shared queue. Safe while daemons run: each change is one transaction, and a replay locks the
/// lanes it adds to as an append does.
extension PostgresEventQueue {
    /// `queue status` for the postgres queue.
    package struct Status: Sendable, Equatable {
        package var pending: Int { backlogByTenant.values.reduce(0, +) }
        /// The oldest waiting event's `receivedAt`, as the receiver wrote it.
        package var oldestPendingReceivedAt: String?
        package var backlogByTenant: [String: Int]
        package var deadLetters: Int
        /// Lanes held by a daemon now, or waiting (a backoff, a rate-limit wait, a pause).
        package var lanes: [Lane]
    }

    package struct Lane: Sendable, Equatable {
        package var tenant: String
        /// The daemon holding it (`<pid>-<host>-…`) while its lease lasts; nil when free.
        package var owner: String?
        package var leaseUntil: Int64?
        /// When a waiting lane may be taken again (ms since the epoch); nil when due.
        package var waitsUntil: Int64?
        package var reason: String?
    }

    /// One row of `xero_webhookd_dead_events`.
    package struct DeadEvent: Sendable, Equatable {
        package var id: Int64
        package var tenant: String
        package var attempts: Int
        package var diedAt: Int64
        package var reason: String
        package var record: [UInt8]

        /// The record as the receiver wrote it; nil when it is not a queue record at all. (An
        /// event the worker could not read, say without a resourceId, still has one.)
        package var queued: QueuedEvent? { try? QueuedEvent.decode(record) }
    }

    package func status() async throws -> Status {
        try await migrateIfNeeded()
        let (events, lanes, dead, logger) = (self.events, self.lanes, self.dead, self.logger)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            var status = Status(backlogByTenant: [:], deadLetters: 0, lanes: [])
            let counts = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT tenant, count(*) FROM \(events) GROUP BY tenant
                """), logger: logger)
            for try await (tenant, count) in counts.decode((String, Int64).self) {
                status.backlogByTenant[tenant] = Int(count)
            }
            let oldest = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT id, record FROM \(events) ORDER BY received_at, id LIMIT 1
                """), logger: logger)
            for try await (_, record) in oldest.decode((Int64, ByteBuffer).self) {
                status.oldestPendingReceivedAt = (try? QueuedEvent.decode(Array(buffer: record)))?.receivedAt
            }
            let buried = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(dead)"), logger: logger)
            for try await count in buried.decode(Int64.self) { status.deadLetters = Int(count) }
            let held = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT tenant,
                       CASE WHEN lease_until > now() THEN owner END,
                       CASE WHEN lease_until > now() THEN (extract(epoch FROM lease_until) * 1000)::int8 END,
                       CASE WHEN not_before > now() THEN (extract(epoch FROM not_before) * 1000)::int8 END,
                       CASE WHEN not_before > now() THEN reason END
                FROM \(lanes) WHERE lease_until > now() OR not_before > now() ORDER BY tenant
                """), logger: logger)
            for try await (tenant, owner, lease, waits, reason) in held.decode((String, String?, Int64?, Int64?, String?).self) {
                status.lanes.append(Lane(tenant: tenant, owner: owner, leaseUntil: lease, waitsUntil: waits, reason: reason))
            }
            return status
        }
    }

    /// Up to 1000 waiting events with ids above `after` (every id when nil), lowest first
    /// (`queue dump` pages through a queue of any length).
    package func eventsPage(after: Int64?) async throws -> [(Int64, [UInt8])] {
        try await migrateIfNeeded()
        let (events, logger) = (self.events, self.logger)
        let (filter, bindings) = Self.cursor("id > $1", after)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT id, record FROM \(events) \(filter) ORDER BY id LIMIT 1000
                """, binds: bindings), logger: logger)
            var page: [(Int64, [UInt8])] = []
            for try await (id, record) in rows.decode((Int64, ByteBuffer).self) { page.append((id, Array(buffer: record))) }
            return page
        }
    }

    /// Up to 1000 dead letters with ids below `before` (every id when nil), highest (latest
    /// received) first.
    package func deadEventsPage(before: Int64?) async throws -> [DeadEvent] {
        let (filter, bindings) = Self.cursor("id < $1", before)
        return try await deadEvents(filter, bindings, limit: 1000)
    }

    /// The ids of up to 1000 dead letters above `after` (every id when nil), lowest first:
    /// replayed in pages in this order, the letters keep the order they were received in.
    package func deadIDsPage(after: Int64?) async throws -> [Int64] {
        try await migrateIfNeeded()
        let (dead, logger) = (self.dead, self.logger)
        let (filter, bindings) = Self.cursor("id > $1", after)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT id FROM \(dead) \(filter) ORDER BY id LIMIT 1000
                """, binds: bindings), logger: logger)
            var ids: [Int64] = []
            for try await id in rows.decode(Int64.self) { ids.append(id) }
            return ids
        }
    }

    /// `WHERE condition` on `value`, or nothing (the first page) when there is none.
    private static func cursor(_ condition: String, _ value: Int64?) -> (String, PostgresBindings) {
        var bindings = PostgresBindings()
        guard let value else { return ("", bindings) }
        bindings.append(value)
        return ("WHERE " + condition, bindings)
    }

    /// The dead letters with these ids, highest first.
    package func deadEvents(ids: [Int64]) async throws -> [DeadEvent] {
        var bindings = PostgresBindings()
        bindings.append(ids)
        return try await deadEvents("WHERE id = ANY($1::bigint[])", bindings, limit: nil)
    }

    private func deadEvents(_ filter: String, _ bindings: PostgresBindings, limit: Int?) async throws -> [DeadEvent] {
        try await migrateIfNeeded()
        let (dead, logger) = (self.dead, self.logger)
        let limited = limit.map { " LIMIT \($0)" } ?? ""
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT id, tenant, attempts, (extract(epoch FROM died_at) * 1000)::int8, reason, record FROM \(dead)
                \(filter) ORDER BY id DESC\(limited)
                """, binds: bindings), logger: logger)
            var letters: [DeadEvent] = []
            for try await (id, tenant, attempts, diedAt, reason, record) in rows.decode((Int64, String, Int32, Int64, String, ByteBuffer).self) {
                letters.append(DeadEvent(id: id, tenant: tenant, attempts: Int(attempts), diedAt: diedAt, reason: reason, record: Array(buffer: record)))
            }
            return letters
        }
    }

    /// Moves the dead letters `ids` back into the queue, after what waits now in their lanes
    /// (each gets a new id; a lane waiting out a backoff or a pause still waits); returns the
    /// ids it found and moved.
    package func replay(_ ids: [Int64]) async throws -> [Int64] {
        try await migrateIfNeeded()
        let (events, lanes, dead, logger) = (self.events, self.lanes, self.dead, self.logger)
        var bindings = PostgresBindings()
        bindings.append(ids)
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            // The lanes first, in one order, as an append takes them: the moved events' new ids
            // commit in order with the deliveries arriving now.
            try await connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(lanes) (tenant) SELECT DISTINCT tenant FROM \(dead) WHERE id = ANY($1::bigint[])
                ON CONFLICT (tenant) DO NOTHING
                """, binds: bindings), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT 1 FROM \(lanes) WHERE tenant IN (SELECT tenant FROM \(dead) WHERE id = ANY($1::bigint[])) ORDER BY tenant FOR UPDATE
                """, binds: bindings), logger: logger)
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                WITH back AS (
                    DELETE FROM \(dead) WHERE id = ANY($1::bigint[]) RETURNING id, tenant, record, received_at
                ), queued AS (
                    INSERT INTO \(events) (tenant, record, received_at) SELECT tenant, record, received_at FROM back ORDER BY id
                )
                SELECT id FROM back ORDER BY id
                """, binds: bindings), logger: logger)
            var moved: [Int64] = []
            for try await id in rows.decode(Int64.self) { moved.append(id) }
            return moved
        }
    }

    /// Deletes the dead letters `ids` for good; returns the ids it found.
    package func purge(_ ids: [Int64]) async throws -> [Int64] {
        try await migrateIfNeeded()
        let (dead, logger) = (self.dead, self.logger)
        var bindings = PostgresBindings()
        bindings.append(ids)
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                DELETE FROM \(dead) WHERE id = ANY($1::bigint[]) RETURNING id
                """, binds: bindings), logger: logger)
            var gone: [Int64] = []
            for try await id in rows.decode(Int64.self) { gone.append(id) }
            return gone.sorted()
        }
    }
}
