import DaemonConfig
import Foundation
import Logging
import PostgresNIO
import Synchronization
import XeroAPI

/// Xero's rate limits held for several daemons together (cluster mode), in two tables:
/// `xero_webhookd_rate_calls`, one row per call admitted by any daemon, and
/// `xero_webhookd_rate_parks`, the tenants (and `*`, the app) Xero told to stop.
///
/// It counts as `RateLimitPolicy` does: a call occupies its tenant's minute and day windows and
/// the app's minute window from admission until 60 s (a day) after it ended, so no window Xero
/// looks at can hold more calls than this counted. A call row's `ends_at` is first its lease's
/// end (admission plus the request timeout and a margin) and becomes the moment it ended: a
/// daemon killed mid-call leaves a row that stops counting as in progress when its lease ends.
/// Admission runs in a transaction under the tenant's advisory lock (taken without waiting: a
/// caller that finds it held looks again shortly), so two daemons never both take a tenant's
/// last slot; times come from the database's clock. (Two tenants' admissions run
/// side by side, so the app-wide limit of 10,000 a minute can be passed by the few admissions
/// made at the same instant; Xero's app-wide 429 then parks every tenant.) A 429 parks the tenant for every
/// daemon until its `Retry-After`.
package final class PostgresRateBudget: RateBudget, Sendable {
    /// The advisory lock class of admissions ("xwhr"); the second key is the tenant's hash.
    package static let lockClass: Int32 = 0x7877_6872
    package let location: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let limits: RateLimits
    private let callLease: Duration
    private let maxWait: Duration
    private let calls: String
    private let parks: String
    private let migrationsTable: String
    private let migrated = Mutex(false)
    private let logger = Logger(label: "xero-webhookd")
    /// How long one statement may take: past it a call is deferred rather than held up.
    private let statementLimit: Duration = .seconds(10)
    /// How often a call waiting for one of its tenant's slots looks again.
    private let slotPoll: Duration = .milliseconds(50)

    /// - Parameters:
    ///   - callLease: how long an admitted call counts as in progress unless it ends first;
    ///     longer than a request can take.
    ///   - maxWait: waits up to this long happen inside `admit`; longer ones are `.deferred`.
    ///   - schema: where the tables are (nil: the search path's first schema).
    package init(endpoint: PostgresEndpoint, limits: RateLimits, callLease: Duration, maxWait: Duration = .seconds(65),
                 schema: String? = nil, sessionName: String = "xero-webhookd") {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 4, settings: PostgresEndpoint.shortWaits, name: sessionName))
        self.client = client
        self.limits = limits
        self.callLease = callLease
        self.maxWait = maxWait
        let prefix = schema.map { "\"\($0)\"." } ?? ""
        calls = prefix + "\"xero_webhookd_rate_calls\""
        parks = prefix + "\"xero_webhookd_rate_parks\""
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

    package func admit(tenant rawTenant: String) async -> RateAdmission {
        let tenant = rawTenant.lowercased()
        // A wait for a window is bounded by `maxWait`; a wait for one of the tenant's slots, by
        // the calls in progress, which end within their lease.
        var waited: Duration = .zero
        var looks = 0
        let slotsFreeBy = ContinuousClock.now + callLease + maxWait
        while true {
            let decision: Decision
            do {
                decision = try await Deadline.run(within: statementLimit) { try await self.tryAdmit(tenant) }
            } catch {
                return .deferred(retryAfter: .seconds(5), reason: "the shared rate budget at \(location) cannot be reached: \(PostgresErrorText.describe(error))")
            }
            let pause: Duration
            switch decision {
            case let .granted(id):
                return .granted(RatePermit(tenant: rawTenant, id: id))
            case let .deferred(after, why):
                return .deferred(retryAfter: after, reason: why)
            case let .wait(after?, why):
                guard waited + after <= maxWait else { return .deferred(retryAfter: after, reason: why) }
                waited += after
                pause = after
            case let .wait(nil, why):
                guard ContinuousClock.now < slotsFreeBy else { return .deferred(retryAfter: slotPoll, reason: why) }
                // Longer between looks the longer it waits, with jitter, so many waiters do not
                // take turns at the database in lockstep.
                looks += 1
                pause = slotPoll * min(looks, 6) + .milliseconds(Int.random(in: 0...100))
            }
            do {
                try await Task.sleep(for: pause)
            } catch {
                return .deferred(retryAfter: pause, reason: "the wait for a rate-limit slot was cancelled")
            }
        }
    }

    package func finish(_ permit: RatePermit, reachedXero: Bool, headers: RateLimitHeaders?) async {
        do {
            try await Deadline.run(within: statementLimit) { try await self.end(permit, reachedXero: reachedXero, headers: headers) }
        } catch {
            // The row keeps counting as in progress until its lease ends: cautious, not lost.
            logger.warning("cannot record the end of a call in the shared rate budget",
                           metadata: ["budget": "\(location)", "error": "\(PostgresErrorText.describe(error))"])
        }
    }

    package func park(tenant rawTenant: String, problem rawProblem: String?, retryAfter: Duration?) async -> Duration {
        let problem = rawProblem?.lowercased() ?? ""
        let scope: String, reason: String, length: Duration
        if problem.contains("app") {
            (scope, reason, length) = ("*", "Xero's app-wide minute limit was reached (429)", retryAfter ?? .seconds(60))
        } else {
            let fallback: Duration = switch problem {
            case "day": .seconds(3600)
            case "concurrent": .seconds(1)
            default: .seconds(60)
            }
            let what = problem.isEmpty ? "a rate limit" : "the \(problem) limit"
            (scope, reason, length) = (rawTenant.lowercased(), "Xero reported \(what) for this tenant (429)", retryAfter ?? fallback)
        }
        do {
            return try await Deadline.run(within: statementLimit) {
                try await self.store(scope: scope, kind: "park", until: "now() + interval '\(Self.milliseconds(length)) milliseconds'", reason: reason)
            }
        } catch {
            logger.warning("cannot park the tenant in the shared rate budget; only this daemon holds back",
                           metadata: ["budget": "\(location)", "error": "\(PostgresErrorText.describe(error))"])
            return length
        }
    }

    package func parkedTenants() async -> Int {
        let (parks, logger) = (self.parks, self.logger)
        // For a metrics scrape: a database that does not answer must not hold it up.
        let count = try? await Deadline.run(within: .seconds(1)) {
            try await self.migrateIfNeeded()
            return try await PostgresSession.with(self.client, idempotent: true) { connection in
                var count: Int64 = 0
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(parks) WHERE kind = 'park' AND scope <> '*' AND until > now()"),
                                                      logger: logger)
                for try await value in rows.decode(Int64.self) { count = value }
                return count
            }
        }
        return Int(count ?? 0)
    }

    /// Every change is committed when its call returns.
    package func flush() async {}

    // MARK: Statements

    private enum Decision: Sendable {
        case granted(String)
        /// Ask again after this long (nil: when a slot may have freed, soon).
        case wait(Duration?, String)
        case deferred(Duration, String)
    }

    private func tryAdmit(_ tenant: String) async throws -> Decision {
        try await migrateIfNeeded()
        let (calls, parks, limits, logger, lease) = (self.calls, self.parks, self.limits, self.logger, Self.milliseconds(callLease))
        return try await PostgresSession.transaction(client, logger: logger) { connection in
            // Not waited for in the server: while another admission for the tenant holds it, this
            // one looks again shortly (a queue of waiters on one lock outlasts the statement limit).
            var locked = false
            let lock = try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_try_advisory_xact_lock(\(Self.lockClass), hashtext($1))",
                                                                binds: Self.binds(tenant)), logger: logger)
            for try await value in lock.decode(Bool.self) { locked = value }
            guard locked else { return .wait(nil, "another admission for this tenant is in progress") }
            // Parks (deferred at once) and Xero's "none left" blocks (waited out when short).
            var block: (Duration, String)?
            let stops = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT kind, reason, extract(epoch FROM until - now())::float8 FROM \(parks)
                WHERE scope IN ($1, '*') AND until > now() ORDER BY kind DESC, until DESC
                """, binds: Self.binds(tenant)), logger: logger)
            for try await (kind, reason, seconds) in stops.decode((String, String, Double).self) {
                if kind == "park" { return .deferred(.seconds(seconds), reason) }
                if block == nil { block = (.seconds(seconds), reason) }
            }
            try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(calls) WHERE tenant = $1 AND ends_at < now() - interval '1 day'",
                                                     binds: Self.binds(tenant)), logger: logger)
            let counts = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT count(*) FILTER (WHERE NOT done AND ends_at > now()),
                       count(*) FILTER (WHERE ends_at > now() - interval '60 seconds'),
                       count(*),
                       extract(epoch FROM min(ends_at) FILTER (WHERE done AND ends_at > now() - interval '60 seconds') + interval '60 seconds' - now())::float8,
                       extract(epoch FROM min(ends_at) + interval '1 day' - now())::float8
                FROM \(calls) WHERE tenant = $1 AND ends_at > now() - interval '1 day'
                """, binds: Self.binds(tenant)), logger: logger)
            var (inFlight, minute, day, minuteFrees, dayFrees): (Int64, Int64, Int64, Double?, Double?) = (0, 0, 0, nil, nil)
            for try await row in counts.decode((Int64, Int64, Int64, Double?, Double?).self) { (inFlight, minute, day, minuteFrees, dayFrees) = row }
            if day >= Int64(limits.perDayPerTenant) {
                return .deferred(.seconds(dayFrees ?? 3600), "the daily limit of \(limits.perDayPerTenant) calls for this tenant is used up (all daemons)")
            }
            if inFlight >= Int64(limits.concurrentPerTenant) { return .wait(nil, "the tenant's \(limits.concurrentPerTenant) calls at once are in progress (all daemons)") }
            if let block { return .wait(block.0, block.1) }
            if minute >= Int64(limits.perMinutePerTenant) {
                return .wait(minuteFrees.map { .seconds($0) }, "the per-minute limit for this tenant is reached (all daemons)")
            }
            let app = try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT count(*), extract(epoch FROM min(ends_at) FILTER (WHERE done) + interval '60 seconds' - now())::float8
                FROM \(calls) WHERE ends_at > now() - interval '60 seconds'
                """), logger: logger)
            var (appMinute, appFrees): (Int64, Double?) = (0, nil)
            for try await row in app.decode((Int64, Double?).self) { (appMinute, appFrees) = row }
            if appMinute >= Int64(limits.perMinuteApp) {
                return .wait(appFrees.map { .seconds($0) }, "the app-wide per-minute limit is reached (all daemons)")
            }
            let permit = UUID().uuidString
            try await connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(calls) (permit, tenant, ends_at) VALUES ($1, $2, now() + interval '\(lease) milliseconds')
                """, binds: Self.binds(permit, tenant)), logger: logger)
            return .granted(permit)
        }
    }

    private func end(_ permit: RatePermit, reachedXero: Bool, headers: RateLimitHeaders?) async throws {
        try await migrateIfNeeded()
        let (calls, logger) = (self.calls, self.logger)
        let tenant = permit.tenant.lowercased()
        try await PostgresSession.with(client, idempotent: true) { connection in
            let sql = reachedXero ? "UPDATE \(calls) SET done = true, ends_at = now() WHERE permit = $1" : "DELETE FROM \(calls) WHERE permit = $1"
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: Self.binds(permit.id)), logger: logger)
        }
        guard let headers else { return }
        // Xero's own count is the truth when it is lower than ours (another client of the tenant).
        let oldest = { (filter: String) in
            "coalesce((SELECT min(ends_at) FROM \(calls) WHERE done AND ends_at > now() - interval '60 seconds'\(filter)), now()) + interval '60 seconds'"
        }
        if headers.minuteRemaining == 0 {
            try await store(scope: tenant, kind: "block", until: oldest(" AND tenant = $1"), reason: "Xero reported no calls left this minute")
        }
        if headers.dayRemaining == 0 {
            try await store(scope: tenant, kind: "park", until: "now() + interval '1 hour'", reason: "Xero reported no calls left today for this tenant")
        }
        if headers.appMinuteRemaining == 0 {
            try await store(scope: "*", kind: "block", until: oldest(""), reason: "Xero reported no app calls left this minute")
        }
    }

    /// Parks or blocks `scope` until `until` (an SQL expression, in which `$1` is `scope`), keeping a later end already
    /// stored; returns how long from now it lasts.
    private func store(scope: String, kind: String, until: String, reason: String) async throws -> Duration {
        try await migrateIfNeeded()
        let (parks, logger) = (self.parks, self.logger)
        return try await PostgresSession.with(client, idempotent: true) { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(parks) AS p (scope, kind, until, reason) VALUES ($1, $2, \(until), $3)
                ON CONFLICT (scope, kind) DO UPDATE SET until = greatest(p.until, EXCLUDED.until),
                    reason = CASE WHEN EXCLUDED.until >= p.until THEN EXCLUDED.reason ELSE p.reason END
                RETURNING extract(epoch FROM until - now())::float8
                """, binds: Self.binds(scope, kind, reason)), logger: logger)
            var seconds = 0.0
            for try await value in rows.decode(Double.self) { seconds = value }
            return .milliseconds(Int64(seconds * 1000))
        }
    }

    private func migrateIfNeeded() async throws {
        if migrated.withLock({ $0 }) { return }
        let steps: [(version: Int32, statements: [String])] = [
            (1, [
                """
                CREATE TABLE \(calls) (
                    permit text PRIMARY KEY,
                    tenant text NOT NULL,
                    admitted_at timestamptz NOT NULL DEFAULT now(),
                    ends_at timestamptz NOT NULL,
                    done boolean NOT NULL DEFAULT false
                )
                """,
                "CREATE INDEX ON \(calls) (tenant, ends_at)",
                "CREATE INDEX ON \(calls) (ends_at)",
                """
                CREATE TABLE \(parks) (
                    scope text NOT NULL,
                    kind text NOT NULL CHECK (kind IN ('park', 'block')),
                    until timestamptz NOT NULL,
                    reason text NOT NULL,
                    PRIMARY KEY (scope, kind)
                )
                """,
            ]),
        ]
        try await MigrationRunner.run(client, name: "xero_webhookd_rate", migrationsTable: migrationsTable, steps: steps, logger: logger)
        migrated.withLock { $0 = true }
    }

    private static func binds(_ values: String...) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { bindings.append(value) }
        return bindings
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
