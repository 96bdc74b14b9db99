/// What of the policy must outlive the process: each tenant's calls of the last day and its
/// parks, with wall-clock times (a `ContinuousClock` instant means nothing after a restart).
/// Minute windows are not kept: a restart takes longer to matter less than a day does.
extension RateLimitPolicy {
    /// The saved form, written as JSON by `RateLimiter`.
    public struct Saved: Sendable, Equatable, Codable {
        public struct Tenant: Sendable, Equatable, Codable {
            /// Completion times of the day's calls, milliseconds since the epoch.
            public var calls: [Int64]
            public var parkedUntil: Int64?
            public var parkReason: String?
            public var dayBlockedUntil: Int64?
        }

        public var tenants: [String: Tenant] = [:]
        public var appParkedUntil: Int64?
        public var appParkReason: String?

        public init() {}
    }

    /// The state at `now`, with times converted by `wallNow` (milliseconds since the epoch at `now`).
    public func saved(now: Instant, wallNow: Int64) -> Saved {
        func wall(_ instant: Instant) -> Int64 { wallNow + Self.milliseconds(instant - now) }
        func live(_ instant: Instant?) -> Int64? { instant.flatMap { $0 > now ? wall($0) : nil } }
        var saved = Saved()
        for (tenant, state) in tenants {
            let calls = state.day.completed.filter { now - $0 < Self.day }.map(wall)
            let parked = live(state.parkedUntil)
            let blocked = live(state.dayBlockedUntil)
            guard !calls.isEmpty || parked != nil || blocked != nil else { continue }
            saved.tenants[tenant] = .init(calls: calls, parkedUntil: parked, parkReason: parked == nil ? nil : state.parkReason,
                                          dayBlockedUntil: blocked)
        }
        saved.appParkedUntil = live(appParkedUntil)
        saved.appParkReason = saved.appParkedUntil == nil ? nil : appParkReason
        return saved
    }

    /// Takes back a saved state (at start, before any call), times converted as in `saved`.
    public mutating func restore(_ saved: Saved, now: Instant, wallNow: Int64) {
        func instant(_ wall: Int64) -> Instant { now + .milliseconds(wall - wallNow) }
        for (tenant, entry) in saved.tenants {
            var state = tenants[tenant] ?? TenantState()
            for call in entry.calls where wallNow - call < Self.milliseconds(Self.day) { state.day.add(instant(call)) }
            if let parked = entry.parkedUntil, parked > wallNow {
                state.parkedUntil = instant(parked)
                state.parkReason = entry.parkReason ?? "Xero reported a rate limit for this tenant (429)"
            }
            if let blocked = entry.dayBlockedUntil, blocked > wallNow { state.dayBlockedUntil = instant(blocked) }
            tenants[tenant] = state
        }
        if let parked = saved.appParkedUntil, parked > wallNow {
            appParkedUntil = instant(parked)
            appParkReason = saved.appParkReason ?? "Xero's app-wide minute limit was reached (429)"
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
