/// Counters of one `XeroClient`, for `/metrics` and logs. All counts since the client started.
package struct XeroClientMetrics: Sendable, Equatable {
    /// Distinct resources per outcome label (`found`, `notFound`, `retryable`, …).
    package var outcomes: [String: Int] = [:]
    /// HTTP requests sent to the API (not counting the token endpoint).
    package var apiCalls = 0
    /// API answers per status code.
    package var statuses: [Int: Int] = [:]
    /// API requests that got no answer.
    package var transportFailures = 0
    /// 429 answers.
    package var rateLimited = 0
    /// 401 answers.
    package var unauthorized = 0
    /// Calls not sent because the tenant or the app was parked or out of calls for the day.
    package var deferred = 0
    /// Tokens obtained by the providers (refreshes, grants, command runs).
    package var tokenRenewals = 0
    /// `IDs=` batches split in halves after Xero refused them with 400.
    package var batchSplits = 0
    /// Tenants parked right now.
    package var parkedTenants = 0

    package init() {}
}
