import Foundation
import PostgresNIO
import PostgresSupport

/// Lanes: claiming, renewing and settling a tenant's events (see `PostgresEventQueue`).
extension PostgresEventQueue {
    /// One queued event as read for a lane.
    struct Stored: Sendable {
        let id: Int64
        let record: [UInt8]
        let attempts: Int
        /// Seconds since its first failed attempt (nil: none failed yet).
        let failingFor: Double?
    }

    /// What a lane's pass decided for its events.
    struct Settlement: Sendable {
        var delivered: [Int64] = []
        var dead: [(id: Int64, reason: String)] = []
        var retried: [(id: Int64, reason: String)] = []
        /// When the lane may be taken again (a retry's backoff, a wait, a pause); nil: at once.
        var laneWait: (after: Duration, reason: String)?
    }

    /// Takes up to `room` free lanes (no current lease, due, with events) for `owner`.
    func claim(owner: String, room: Int, lease: Duration) async throws -> [String] {
        try await migrateIfNeeded()
        var bindings = PostgresBindings()
        bindings.append(owner)
        bindings.append(room)
        let (events, lanes, logger) = (self.events, self.lanes, self.logger)
        return try await PostgresSession.with(client) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE \(lanes) SET owner = $1, lease_until = now() + interval '\(Self.milliseconds(lease)) milliseconds'
                WHERE tenant IN (
                    SELECT l.tenant FROM \(lanes) l
                    WHERE (l.lease_until IS NULL OR l.lease_until <= now()) AND l.not_before <= now()
                      AND EXISTS (SELECT 1 FROM \(events) e WHERE e.tenant = l.tenant)
                    ORDER BY l.not_before LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                RETURNING tenant
                """, binds: bindings), logger: logger)
            var tenants: [String] = []
            for try await tenant in rows.decode(String.self) { tenants.append(tenant) }
            return tenants
        }
    }

    /// Extends `owner`'s lease on `tenant`; false when the lane is no longer its.
    func renew(tenant: String, owner: String, lease: Duration) async throws -> Bool {
        let (lanes, logger) = (self.lanes, self.logger)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE \(lanes) SET lease_until = now() + interval '\(Self.milliseconds(lease)) milliseconds'
                WHERE tenant = $1 AND owner = $2 AND lease_until > now() RETURNING tenant
                """, binds: Self.binds(tenant, owner)), logger: logger)
            var held = false
            for try await _ in rows { held = true }
            return held
        }
    }

    /// The lane's first `limit` events, oldest first.
    func batch(tenant: String, limit: Int) async throws -> [Stored] {
        var bindings = Self.binds(tenant)
        bindings.append(limit)
        let (events, logger) = (self.events, self.logger)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT id, record, attempts, extract(epoch FROM now() - first_failure)::float8 FROM \(events)
                WHERE tenant = $1 ORDER BY id LIMIT $2
                """, binds: bindings), logger: logger)
            var stored: [Stored] = []
            for try await (id, record, attempts, failing) in rows.decode((Int64, ByteBuffer, Int32, Double?).self) {
                stored.append(Stored(id: id, record: Array(buffer: record), attempts: Int(attempts), failingFor: failing))
            }
            return stored
        }
    }

    /// Applies a pass's outcome in one transaction, only while `owner` still holds the lane
    /// (else nothing changes and false is returned: another daemon took it, and does it again).
    /// The lane is let go when `release` or when the settlement says to wait.
    func settle(tenant: String, owner: String, _ settlement: Settlement, release: Bool, lease: Duration) async throws -> Bool {
        let (events, lanes, dead, logger) = (self.events, self.lanes, self.dead, self.logger)
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            let held = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT 1 FROM \(lanes) WHERE tenant = $1 AND owner = $2 AND lease_until > now() FOR UPDATE
                """, binds: Self.binds(tenant, owner)), logger: logger)
            var holds = false
            for try await _ in held { holds = true }
            guard holds else { return false }
            if !settlement.delivered.isEmpty {
                var bindings = PostgresBindings()
                bindings.append(settlement.delivered)
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(events) WHERE id = ANY($1::bigint[])", binds: bindings), logger: logger)
            }
            if !settlement.dead.isEmpty {
                // A letter keeps its event's id, unless a letter has it already (ids an operator
                // put in by hand, or a restarted sequence): then an id above every letter's and
                // every id of this settle, its reason naming the event's. Buries take turns
                // (across daemons; they are rare) so that two do not pick the same ids.
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.buryLockKey))", logger: logger)
                var bindings = PostgresBindings()
                bindings.append(settlement.dead.map(\.id))
                bindings.append(settlement.dead.map(\.reason))
                let moved = try await connection.query(PostgresQuery(unsafeSQL: """
                    WITH gone AS (
                        DELETE FROM \(events) e USING unnest($1::bigint[], $2::text[]) AS d(id, reason) WHERE e.id = d.id
                        RETURNING e.id, e.tenant, e.record, e.received_at, e.attempts, d.reason
                    ), taken AS (
                        SELECT g.id, row_number() OVER (ORDER BY g.id) AS n FROM gone g WHERE EXISTS (SELECT 1 FROM \(dead) x WHERE x.id = g.id)
                    ), placed AS MATERIALIZED (
                        SELECT g.id AS event, coalesce(greatest((SELECT max(id) FROM \(dead)), (SELECT max(id) FROM gone)) + t.n, g.id) AS letter,
                               g.tenant, g.record, g.received_at, g.attempts + 1 AS attempts,
                               g.reason || CASE WHEN t.n IS NULL THEN '' ELSE ' (event ' || g.id || ', whose id a letter had already)' END AS reason
                        FROM gone g LEFT JOIN taken t ON t.id = g.id
                    ), stored AS (
                        INSERT INTO \(dead) (id, tenant, record, received_at, attempts, reason)
                        SELECT letter, tenant, record, received_at, attempts, reason FROM placed
                    )
                    SELECT event, letter FROM placed WHERE event <> letter
                    """, binds: bindings), logger: logger)
                for try await (event, letter) in moved.decode((Int64, Int64).self) {
                    logger.warning("dead letter under another id: a letter had its event's id already",
                                   metadata: ["event": "\(event)", "letter": "\(letter)", "tenant": "\(tenant)"])
                }
            }
            if !settlement.retried.isEmpty {
                var bindings = PostgresBindings()
                bindings.append(settlement.retried.map(\.id))
                bindings.append(settlement.retried.map(\.reason))
                try await connection.query(PostgresQuery(unsafeSQL: """
                    UPDATE \(events) e SET attempts = e.attempts + 1, first_failure = coalesce(e.first_failure, now()), last_error = r.reason
                    FROM unnest($1::bigint[], $2::text[]) AS r(id, reason) WHERE e.id = r.id
                    """, binds: bindings), logger: logger)
            }
            if let wait = settlement.laneWait {
                var bindings = Self.binds(tenant, wait.reason)
                bindings.append(Self.milliseconds(wait.after))
                try await connection.query(PostgresQuery(unsafeSQL: """
                    UPDATE \(lanes) SET owner = NULL, lease_until = NULL, not_before = now() + $3 * interval '1 millisecond', reason = $2
                    WHERE tenant = $1
                    """, binds: bindings), logger: logger)
            } else if release {
                try await connection.query(PostgresQuery(unsafeSQL: """
                    UPDATE \(lanes) SET owner = NULL, lease_until = NULL, reason = NULL, not_before = clock_timestamp() WHERE tenant = $1
                    """, binds: Self.binds(tenant)), logger: logger)
            } else {
                try await connection.query(PostgresQuery(unsafeSQL: """
                    UPDATE \(lanes) SET lease_until = now() + interval '\(Self.milliseconds(lease)) milliseconds', reason = NULL WHERE tenant = $1
                    """, binds: Self.binds(tenant)), logger: logger)
            }
            return true
        }
    }

    /// Makes every lane waiting out a pause due now; returns how many. The lanes are locked in
    /// the order an append locks them (by tenant), so the two cannot deadlock.
    @discardableResult
    func duePausedLanes() async throws -> Int {
        let (lanes, logger) = (self.lanes, self.logger)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE \(lanes) SET not_before = clock_timestamp() WHERE tenant IN (
                    SELECT tenant FROM \(lanes) WHERE not_before > clock_timestamp() AND reason LIKE 'paused: %' ORDER BY tenant FOR UPDATE)
                RETURNING tenant
                """), logger: logger)
            var count = 0
            for try await _ in rows { count += 1 }
            return count
        }
    }

    /// Events waiting in the queue and dead letters, for status and metrics.
    func counts() async throws -> (events: Int, dead: Int) {
        try await migrateIfNeeded()
        let (events, dead, logger) = (self.events, self.dead, self.logger)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT (SELECT count(*) FROM \(events)), (SELECT count(*) FROM \(dead))"),
                                                  logger: logger)
            var result = (events: 0, dead: 0)
            for try await (waiting, buried) in rows.decode((Int64, Int64).self) { result = (Int(waiting), Int(buried)) }
            return result
        }
    }

    /// The advisory lock a settle that buries events holds ("xwhe" in ASCII; the migrations' is "xwhd").
    static let buryLockKey: Int64 = 0x7877_6865

    static func binds(_ values: String...) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { bindings.append(value) }
        return bindings
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
