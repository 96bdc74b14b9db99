/// Applies `RateLimitPolicy` with the real clock: waits where the policy says wait, and hands
/// out permits. Shared by every call of one `XeroClient`.
public actor RateLimiter {
    /// The result of `acquire`.
    public enum Admission: Sendable, Equatable {
        /// Send the call now; call `release` when it ends.
        case granted
        /// Do not send it; retry after `retryAfter`.
        case deferred(retryAfter: Duration, reason: String)
    }

    private var policy: RateLimitPolicy
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(limits: RateLimits, maxWait: Duration = .seconds(65)) {
        policy = RateLimitPolicy(limits: limits, maxWait: maxWait)
    }

    /// Waits until the policy admits a call for `tenant`, or returns `.deferred` when the wait
    /// would be longer than the policy's `maxWait` (a parked tenant, a used-up day).
    public func acquire(tenant: String) async -> Admission {
        while true {
            let now = ContinuousClock.now
            switch policy.tryAcquire(tenant: tenant, now: now) {
            case .proceed:
                return .granted
            case .waitForSlot:
                await withCheckedContinuation { waiters.append($0) }
            case let .waitUntil(instant):
                do {
                    try await Task.sleep(until: instant, clock: .continuous)
                } catch {
                    // Cancelled: give up the wait rather than spin until the instant.
                    return .deferred(retryAfter: max(instant - .now, .zero), reason: "the wait for a rate-limit slot was cancelled")
                }
            case let .deferred(until, reason):
                return .deferred(retryAfter: max(until - now, .zero), reason: reason)
            }
        }
    }

    /// Ends a granted call and wakes callers waiting for a slot.
    public func release(tenant: String, reachedXero: Bool = true, headers: RateLimitHeaders? = nil) {
        policy.release(tenant: tenant, now: .now, reachedXero: reachedXero, headers: headers)
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
    }

    /// Records a 429 and returns how long the tenant (or the app) is parked.
    public func record429(tenant: String, problem: String?, retryAfter: Duration?) -> Duration {
        let now = ContinuousClock.now
        return policy.record429(tenant: tenant, now: now, problem: problem, retryAfter: retryAfter) - now
    }

    /// Tenants parked now (for metrics).
    public func parkedTenants() -> Int { policy.parkedTenants(now: .now) }
}
