import HTTPServer

/// Xero's rate limits as the fake enforces them (xero-facts §6): a sliding minute per tenant
/// and per app, a day count per tenant, calls in progress per tenant.
extension FakeXero {
    /// Admits a call for `tenant` (counting it in flight) and returns the rate-limit headers
    /// for its answer, or the 429 to send instead.
    func admit(tenant: String, state: inout FakeXeroState) -> Gate<[(name: String, value: String)]> {
        let now = ContinuousClock.now
        let limits = state.options.limits
        var load = state.load[tenant] ?? .init()
        defer { state.load[tenant] = load }
        load.arrivals.removeAll { now - $0 >= .seconds(60) }
        state.appArrivals.removeAll { now - $0 >= .seconds(60) }

        func headers(problem: String? = nil, retryAfter: Int? = nil) -> [(name: String, value: String)] {
            var list: [(name: String, value: String)] = [
                (name: "x-minlimit-remaining", value: "\(max(0, limits.perMinutePerTenant - load.arrivals.count))"),
                (name: "x-daylimit-remaining", value: "\(max(0, limits.perDayPerTenant - load.day))"),
                (name: "x-appminlimit-remaining", value: "\(max(0, limits.perMinuteApp - state.appArrivals.count))"),
                (name: "xero-correlation-id", value: FakeXeroWire.randomToken("corr")),
            ]
            if let problem { list.append((name: "x-rate-limit-problem", value: problem)) }
            if let retryAfter { list.append((name: "retry-after", value: "\(retryAfter)")) }
            return list
        }
        func tooMany(_ problem: String, _ retryAfter: Int?) -> Gate<[(name: String, value: String)]> {
            state.stats.tooManyRequests += 1
            state.stats.tooManyRequestsByProblem[problem, default: 0] += 1
            return .stop(HTTPResponse(status: 429, headers: headers(problem: problem, retryAfter: retryAfter)))
        }
        func secondsUntilFree(_ arrivals: [ContinuousClock.Instant]) -> Int {
            guard let oldest = arrivals.first else { return 1 }
            let wait = (oldest + .seconds(60)) - now
            return max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
        }

        if var forced = state.forced429[tenant], forced.remaining > 0 {
            forced.remaining -= 1
            state.forced429[tenant] = forced
            return tooMany(forced.problem, forced.retryAfter)
        }
        // Xero sends Retry-After only for the minute and day limits (xero-answers/SOURCES.md).
        if load.inFlight >= limits.concurrentPerTenant { return tooMany("concurrent", nil) }
        if load.arrivals.count >= limits.perMinutePerTenant { return tooMany("minute", secondsUntilFree(load.arrivals)) }
        if load.day >= limits.perDayPerTenant { return tooMany("day", limits.dayRetryAfterSeconds) }
        if state.appArrivals.count >= limits.perMinuteApp { return tooMany("appminute", secondsUntilFree(state.appArrivals)) }

        load.inFlight += 1
        load.arrivals.append(now)
        load.day += 1
        state.appArrivals.append(now)
        state.stats.maxInFlightByTenant[tenant] = max(state.stats.maxInFlightByTenant[tenant] ?? 0, load.inFlight)
        state.stats.maxPerMinuteByTenant[tenant] = max(state.stats.maxPerMinuteByTenant[tenant] ?? 0, load.arrivals.count)
        return .pass(headers())
    }

    /// The rate-limit headers of an answer that did not count as a call (e.g. a URL too long).
    func remainingHeaders(tenant: String, state: FakeXeroState) -> [(name: String, value: String)] {
        let limits = state.options.limits
        let load = state.load[tenant] ?? .init()
        return [
            (name: "x-minlimit-remaining", value: "\(max(0, limits.perMinutePerTenant - load.arrivals.count))"),
            (name: "x-daylimit-remaining", value: "\(max(0, limits.perDayPerTenant - load.day))"),
            (name: "x-appminlimit-remaining", value: "\(max(0, limits.perMinuteApp - state.appArrivals.count))"),
        ]
    }

    /// Ends an admitted call.
    func finished(tenant: String) {
        state.withLock { $0.load[tenant]?.inFlight -= 1 }
    }
}
