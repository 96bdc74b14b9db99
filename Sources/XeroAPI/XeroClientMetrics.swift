/// Counters of one `XeroClient`, for `/metrics` and logs. All counts since the client started.
public struct XeroClientMetrics: Sendable, Equatable {
    /// Distinct resources per outcome label (`found`, `notFound`, `retryable`, …).
    public var outcomes: [String: Int] = [:]
    /// HTTP requests sent to the API (not counting the token endpoint).
    public var apiCalls = 0
    /// API answers per status code.
    public var statuses: [Int: Int] = [:]
    /// API requests that got no answer.
    public var transportFailures = 0
    /// 429 answers.
    public var rateLimited = 0
    /// 401 answers.
    public var unauthorized = 0
    /// Calls not sent because the tenant or the app was parked or out of calls for the day.
    public var deferred = 0
    /// Tokens obtained by the providers (refreshes, grants, command runs).
    public var tokenRenewals = 0
    /// `IDs=` batches split in halves after Xero refused them with 400.
    public var batchSplits = 0
    /// Tenants parked right now.
    public var parkedTenants = 0

    public init() {}
}
