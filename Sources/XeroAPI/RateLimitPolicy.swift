/// The rate-limit policy: pure state and decisions, no clock of its own. Every method takes
/// `now`, so tests drive it with made-up instants and never wait.
///
/// Counting rule: a call occupies a tenant's minute and day windows, and the app's minute window,
/// from the moment it is admitted until 60 s (24 h for the day) after it *completed*. Xero counts
/// a call when it arrives, which is between those two moments, so for any window Xero looks at,
/// this policy has counted at least as many calls as Xero has: it can be early to admit but
/// never late, whatever the network delays.
///
/// Parking: a 429 parks the tenant (or the whole app, for an app-limit problem) until its
/// `Retry-After`. A parked tenant gets `.deferred` at once, so its calls are reported as
/// retryable with the time to retry instead of being sent. Other tenants are not affected.
package struct RateLimitPolicy: Sendable {
    package typealias Instant = ContinuousClock.Instant

    /// What a caller should do.
    package enum Decision: Sendable, Equatable {
        /// Go: the call is counted as in flight until `release`.
        case proceed
        /// The tenant (or the app) has its maximum in flight: wait for a `release`.
        case waitForSlot
        /// A window frees a slot at this instant: wait until then and ask again.
        case waitUntil(Instant)
        /// Not before this instant, and that is too long to wait: report the call as retryable.
        case deferred(until: Instant, reason: String)
    }

    package let limits: RateLimits
    /// Waits up to this long are taken inside a fetch; longer ones become `.deferred`.
    package var maxWait: Duration
    /// How long a tenant is held back after Xero reported 0 calls left in its day and no 429
    /// has said for how long: the next call then probes Xero again.
    package var dayExhaustedProbeInterval: Duration = .seconds(3600)

    var tenants: [String: TenantState] = [:]
    private var app = Window()
    var appParkedUntil: Instant?
    var appParkReason = ""
    private var appBlockedUntil: Instant?

    private static let minute: Duration = .seconds(60)
    static let day: Duration = .seconds(86_400)

    package init(limits: RateLimits, maxWait: Duration = .seconds(65)) {
        self.limits = limits
        self.maxWait = maxWait
    }

    /// Admits a call for `tenant` (and counts it in flight) or says why not.
    package mutating func tryAcquire(tenant rawTenant: String, now: Instant) -> Decision {
        let tenant = rawTenant.lowercased()
        var state = tenants[tenant] ?? TenantState()
        defer { tenants[tenant] = state }
        state.minute.prune(before: now - Self.minute)
        state.day.prune(before: now - Self.day)
        app.prune(before: now - Self.minute)

        if let until = appParkedUntil, until > now { return .deferred(until: until, reason: appParkReason) }
        if let until = state.parkedUntil, until > now { return .deferred(until: until, reason: state.parkReason) }
        if let until = state.dayBlockedUntil, until > now {
            return .deferred(until: until, reason: "Xero reported no calls left today for this tenant")
        }
        if state.inFlight + state.day.completed.count >= limits.perDayPerTenant {
            let until = state.day.completed.first.map { $0 + Self.day } ?? now + dayExhaustedProbeInterval
            return .deferred(until: until, reason: "the daily limit of \(limits.perDayPerTenant) calls for this tenant is used up")
        }
        if state.inFlight >= limits.concurrentPerTenant { return .waitForSlot }
        if let until = state.minuteBlockedUntil, until > now { return wait(until, now, "Xero reported no calls left this minute") }
        if state.inFlight + state.minute.completed.count >= limits.perMinutePerTenant {
            guard let oldest = state.minute.completed.first else { return .waitForSlot }
            return wait(oldest + Self.minute, now, "the per-minute limit for this tenant is reached")
        }
        if let until = appBlockedUntil, until > now { return wait(until, now, "Xero reported no app calls left this minute") }
        if app.inFlight + app.completed.count >= limits.perMinuteApp {
            guard let oldest = app.completed.first else { return .waitForSlot }
            return wait(oldest + Self.minute, now, "the app-wide per-minute limit is reached")
        }
        state.inFlight += 1
        app.inFlight += 1
        return .proceed
    }

    /// Ends an admitted call. `reachedXero` is false only when the request certainly was not
    /// sent (then it does not count against the windows). `headers` are the answer's
    /// rate-limit headers, if an answer came.
    package mutating func release(tenant rawTenant: String, now: Instant, reachedXero: Bool = true,
                                 headers: RateLimitHeaders? = nil) {
        let tenant = rawTenant.lowercased()
        var state = tenants[tenant] ?? TenantState()
        defer { tenants[tenant] = state }
        state.inFlight = max(0, state.inFlight - 1)
        app.inFlight = max(0, app.inFlight - 1)
        if reachedXero {
            state.minute.add(now)
            state.day.add(now)
            app.add(now)
        }
        guard let headers else { return }
        // Xero's own count is the truth when it is lower than ours (another client of the same
        // tenant): hold back until our oldest counted call leaves the window.
        if headers.minuteRemaining == 0 {
            let until = (state.minute.completed.first ?? now) + Self.minute
            state.minuteBlockedUntil = max(state.minuteBlockedUntil ?? until, until)
        }
        if headers.dayRemaining == 0 {
            state.dayBlockedUntil = now + dayExhaustedProbeInterval
        }
        if headers.appMinuteRemaining == 0 {
            let until = (app.completed.first ?? now) + Self.minute
            appBlockedUntil = max(appBlockedUntil ?? until, until)
        }
    }

    /// Records a 429 and parks the tenant, or the app for an app-limit problem, until
    /// `Retry-After` (a default when absent). Returns the instant the park ends.
    @discardableResult
    package mutating func record429(tenant rawTenant: String, now: Instant, problem: String?, retryAfter: Duration?) -> Instant {
        let problem = problem?.lowercased() ?? ""
        if problem.contains("app") {
            let until = now + (retryAfter ?? Self.minute)
            appParkedUntil = max(appParkedUntil ?? until, until)
            appParkReason = "Xero's app-wide minute limit was reached (429)"
            return appParkedUntil!
        }
        let tenant = rawTenant.lowercased()
        var state = tenants[tenant] ?? TenantState()
        defer { tenants[tenant] = state }
        let fallback: Duration = switch problem {
        case "day": dayExhaustedProbeInterval
        case "concurrent": .seconds(1)
        default: Self.minute
        }
        let until = now + (retryAfter ?? fallback)
        if until > (state.parkedUntil ?? now) { state.parkedUntil = until }
        let what = problem.isEmpty ? "a rate limit" : "the \(problem) limit"
        state.parkReason = "Xero reported \(what) for this tenant (429)"
        return state.parkedUntil ?? until
    }

    /// When the tenant's park ends, if it is parked at `now`.
    package func parkedUntil(tenant: String, now: Instant) -> Instant? {
        if let until = appParkedUntil, until > now { return until }
        guard let until = tenants[tenant.lowercased()]?.parkedUntil, until > now else { return nil }
        return until
    }

    /// Calls admitted and not yet released for `tenant`.
    package func inFlight(tenant: String) -> Int { tenants[tenant.lowercased()]?.inFlight ?? 0 }

    /// Tenants parked at `now`.
    package func parkedTenants(now: Instant) -> Int {
        tenants.values.filter { ($0.parkedUntil ?? now) > now }.count
    }

    private func wait(_ until: Instant, _ now: Instant, _ reason: String) -> Decision {
        until - now > maxWait ? .deferred(until: until, reason: reason) : .waitUntil(until)
    }
}

/// Completion instants of calls (ascending) plus the calls in flight.
struct Window: Sendable {
    var completed: [ContinuousClock.Instant] = []
    var inFlight = 0

    mutating func add(_ instant: ContinuousClock.Instant) {
        // Usually appended in order; a caller's clock may hand out instants slightly out of order.
        var index = completed.endIndex
        while index > completed.startIndex && completed[index - 1] > instant { index -= 1 }
        completed.insert(instant, at: index)
    }

    mutating func prune(before cutoff: ContinuousClock.Instant) {
        let stale = completed.prefix { $0 <= cutoff }.count
        if stale > 0 { completed.removeFirst(stale) }
    }
}

struct TenantState: Sendable {
    var inFlight = 0
    var minute = Window()
    var day = Window()
    var parkedUntil: ContinuousClock.Instant?
    var parkReason = ""
    var minuteBlockedUntil: ContinuousClock.Instant?
    var dayBlockedUntil: ContinuousClock.Instant?
}
