/// What the fake saw, for tests to assert on. Tenant ids are lower-cased.
public struct FakeXeroStats: Sendable {
    /// Accepted API calls by tenant, then endpoint (`Invoices?IDs`, `Invoices/{id}`,
    /// `CreditNotes/{id}`, `subscriptions/{id}`, …).
    public var callsByTenant: [String: [String: Int]] = [:]
    /// Requests by endpoint, including `token`, `connections` and refused ones.
    public var requestsByEndpoint: [String: Int] = [:]
    /// Most calls of one tenant in progress at once.
    public var maxInFlightByTenant: [String: Int] = [:]
    /// Most accepted calls of one tenant within any 60 seconds.
    public var maxPerMinuteByTenant: [String: Int] = [:]
    /// 429 answers, in total and by `X-Rate-Limit-Problem`.
    public var tooManyRequests = 0
    public var tooManyRequestsByProblem: [String: Int] = [:]
    /// Successful token grants by grant type (`refresh_token`, `authorization_code`, `client_credentials`).
    public var tokenGrants: [String: Int] = [:]
    /// Refresh grants that used an already used refresh token inside the grace window.
    public var graceReuses = 0
    /// Authorize requests redirected back with `error=invalid_scope`.
    public var invalidScopes = 0
    /// `invalid_grant` answers.
    public var invalidGrants = 0
    /// Token answers deliberately not sent (`loseNextTokenResponse`).
    public var lostTokenResponses = 0
    /// Token requests answered with an error status by `failTokenRequests`.
    public var failedTokenRequests = 0
    /// 401, 403 and URL-too-long 404 answers.
    public var unauthorized = 0
    public var forbidden = 0
    public var urlTooLong = 0
    /// `IDs=` requests refused because the commas were percent-encoded or the parameter repeated.
    public var unparseableIDs = 0
    /// `IDs=` requests refused with 400 because an id was not a GUID.
    public var malformedIDs = 0
    /// Answers sent as XML because the request lacked `Accept: application/json`.
    public var xmlAnswers = 0
    /// First uses of access tokens issued by a refresh, and how many failed the test's check.
    public var firstUseChecks = 0
    public var firstUseViolations = 0
    /// Longest request URL seen.
    public var longestURL = 0

    public init() {}

    /// Accepted calls of `tenant` to `endpoint`.
    public func calls(tenant: String, endpoint: String) -> Int {
        callsByTenant[tenant.lowercased()]?[endpoint] ?? 0
    }

    /// Accepted API calls in total.
    public var totalCalls: Int { callsByTenant.values.reduce(0) { $0 + $1.values.reduce(0, +) } }
}
