/// Where a `XeroClient` asks before each call to Xero: its own `RateLimiter` on one machine, or
/// a budget several daemons share (cluster mode), so Xero's per-tenant limits (5 at once, 60 a
/// minute, the day's) and the app's per-minute limit hold for all of them together, and a 429
/// parks the tenant for every daemon.
package protocol RateBudget: Sendable {
    /// Waits (up to the budget's longest wait) until a call for `tenant` may be sent, or says
    /// for how long it may not.
    func admit(tenant: String) async -> RateAdmission
    /// Ends an admitted call. `reachedXero` is false only when the request certainly was not
    /// sent; `headers` are the answer's rate-limit headers, if an answer came.
    func finish(_ permit: RatePermit, reachedXero: Bool, headers: RateLimitHeaders?) async
    /// Records a 429 and returns how long the tenant (or the app) is parked.
    func park(tenant: String, problem: String?, retryAfter: Duration?) async -> Duration
    /// Tenants parked now (for metrics).
    func parkedTenants() async -> Int
    /// Returns once every change is stored (at shutdown).
    func flush() async
}

/// The answer to `RateBudget.admit`.
package enum RateAdmission: Sendable, Equatable {
    /// Send the call now; hand the permit to `finish` when it ends.
    case granted(RatePermit)
    /// Do not send it; retry after `retryAfter`.
    case deferred(retryAfter: Duration, reason: String)
}

/// One admitted call.
package struct RatePermit: Sendable, Equatable {
    package let tenant: String
    /// The shared budget's record of the call (empty for a local limiter).
    package let id: String

    package init(tenant: String, id: String = "") {
        self.tenant = tenant
        self.id = id
    }
}

extension RateLimiter: RateBudget {
    package func admit(tenant: String) async -> RateAdmission {
        switch await acquire(tenant: tenant) {
        case .granted: .granted(RatePermit(tenant: tenant))
        case let .deferred(retryAfter, reason): .deferred(retryAfter: retryAfter, reason: reason)
        }
    }

    package func finish(_ permit: RatePermit, reachedXero: Bool, headers: RateLimitHeaders?) async {
        release(tenant: permit.tenant, reachedXero: reachedXero, headers: headers)
    }

    package func park(tenant: String, problem: String?, retryAfter: Duration?) async -> Duration {
        record429(tenant: tenant, problem: problem, retryAfter: retryAfter)
    }
}
