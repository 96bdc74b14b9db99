/// What of the policy must outlive the process: each tenant's calls of the last day and its
/// parks, with wall-clock times (a `ContinuousClock` instant means nothing after a restart).
/// Minute windows are not kept: a restart takes longer to matter less than a day does.
extension RateLimitPolicy {
    /// The saved form, written as JSON by `RateLimiter`.
    package struct Saved: Sendable, Equatable, Codable {
        package struct Tenant: Sendable, Equatable, Codable {
            /// The day's calls as `[minute, count]` pairs: `count` calls completed in the minute
            /// that starts at `minute` (milliseconds since the epoch). Restored at the minute's
            /// end, so a restored call leaves the day window at most a minute late, never early.
            package var calls: [[Int64]]
            package var parkedUntil: Int64?
            package var parkReason: String?
            package var dayBlockedUntil: Int64?
            /// How long the park and the day block had left when saved (milliseconds): a
            /// restore never makes them longer, whatever the wall clock did meanwhile.
            package var parkedFor: Int64?
            package var dayBlockedFor: Int64?
        }

        package var tenants: [String: Tenant] = [:]
        package var appParkedUntil: Int64?
        package var appParkReason: String?
        package var appParkedFor: Int64?

        package init() {}
    }

    /// The state at `now`, with times converted by `wallNow` (milliseconds since the epoch at `now`).
    package func saved(now: Instant, wallNow: Int64) -> Saved {
        func wall(_ instant: Instant) -> Int64 { wallNow + Self.milliseconds(instant - now) }
        func live(_ instant: Instant?) -> Int64? { instant.flatMap { $0 > now ? wall($0) : nil } }
        func left(_ instant: Instant?) -> Int64? { instant.flatMap { $0 > now ? Self.milliseconds($0 - now) : nil } }
        var saved = Saved()
        for (tenant, state) in tenants {
            var perMinute: [Int64: Int64] = [:]
            for instant in state.day.completed where now - instant < Self.day {
                let at = wall(instant)
                perMinute[at - at % 60_000, default: 0] += 1
            }
            let calls = perMinute.keys.sorted().map { [$0, perMinute[$0]!] }
            let parked = live(state.parkedUntil)
            let blocked = live(state.dayBlockedUntil)
            guard !calls.isEmpty || parked != nil || blocked != nil else { continue }
            saved.tenants[tenant] = .init(calls: calls, parkedUntil: parked, parkReason: parked == nil ? nil : state.parkReason,
                                          dayBlockedUntil: blocked, parkedFor: left(state.parkedUntil),
                                          dayBlockedFor: left(state.dayBlockedUntil))
        }
        saved.appParkedUntil = live(appParkedUntil)
        saved.appParkReason = saved.appParkedUntil == nil ? nil : appParkReason
        saved.appParkedFor = left(appParkedUntil)
        return saved
    }

    /// The latest end a restored park or day block may have, from now: the longest legitimate
    /// one is a day (Xero's day limit). A file written by a clock that was ahead, read by one
    /// that is behind, or damaged, cannot park a tenant longer.
    static let longestPark: Duration = .seconds(86_400 + 60)

    /// Takes back a saved state (at start, before any call), times converted as in `saved`.
    /// Parks end at most `longestPark` from now; calls in minutes that have not begun yet (the
    /// clock stepped back since they were saved) are dropped.
    package mutating func restore(_ saved: Saved, now: Instant, wallNow: Int64) {
        let longest = Self.milliseconds(Self.longestPark)
        func instant(_ wall: Int64) -> Instant { now + .milliseconds(wall - wallNow) }
        // A park's end: its saved end, but no later than what it had left when saved (at most `longestPark`).
        func end(_ wall: Int64, left: Int64?) -> Instant {
            now + .milliseconds(min(wall - wallNow, max(0, min(left ?? longest, longest))))
        }
        for (tenant, entry) in saved.tenants {
            var state = tenants[tenant] ?? TenantState()
            for pair in entry.calls where pair.count == 2 && pair[1] > 0 && pair[0] <= wallNow
                && pair[0] > wallNow - Self.milliseconds(Self.day) {
                let end = instant(pair[0] + 60_000)
                for _ in 0..<min(pair[1], Int64(limits.perDayPerTenant)) { state.day.add(end) }
            }
            if let parked = entry.parkedUntil, parked > wallNow {
                state.parkedUntil = end(parked, left: entry.parkedFor)
                state.parkReason = entry.parkReason ?? "Xero reported a rate limit for this tenant (429)"
            }
            if let blocked = entry.dayBlockedUntil, blocked > wallNow {
                state.dayBlockedUntil = end(blocked, left: entry.dayBlockedFor)
            }
            tenants[tenant] = state
        }
        if let parked = saved.appParkedUntil, parked > wallNow {
            appParkedUntil = end(parked, left: saved.appParkedFor)
            appParkReason = saved.appParkReason ?? "Xero's app-wide minute limit was reached (429)"
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
