/// What the fake saw, for tests to assert on. Tenant ids are lower-cased.
package struct FakeXeroStats: Sendable {
    /// Accepted API calls by tenant, then endpoint (`Invoices?IDs`, `Invoices/{id}`,
    /// `CreditNotes/{id}`, `subscriptions/{id}`, …).
    package var callsByTenant: [String: [String: Int]] = [:]
    /// Requests by endpoint, including `token`, `connections` and refused ones.
    package var requestsByEndpoint: [String: Int] = [:]
    /// Most calls of one tenant in progress at once.
    package var maxInFlightByTenant: [String: Int] = [:]
    /// Most accepted calls of one tenant within any 60 seconds.
    package var maxPerMinuteByTenant: [String: Int] = [:]
    /// 429 answers, in total and by `X-Rate-Limit-Problem`.
    package var tooManyRequests = 0
    package var tooManyRequestsByProblem: [String: Int] = [:]
    /// Successful token grants by grant type (`refresh_token`, `authorization_code`, `client_credentials`).
    package var tokenGrants: [String: Int] = [:]
    /// Refresh grants that used an already used refresh token inside the grace window.
    package var graceReuses = 0
    /// Authorize requests redirected back with `error=invalid_scope`.
    package var invalidScopes = 0
    /// Most token requests being answered at once (see `FakeXeroOptions.tokenDelay`).
    package var maxTokenRequestsInFlight = 0
    /// `invalid_grant` answers.
    package var invalidGrants = 0
    /// Token answers deliberately not sent (`loseNextTokenResponse`).
    package var lostTokenResponses = 0
    /// Token requests answered with an error status by `failTokenRequests`.
    package var failedTokenRequests = 0
    /// 401, 403 and URL-too-long 404 answers.
    package var unauthorized = 0
    package var forbidden = 0
    package var urlTooLong = 0
    /// `IDs=` requests refused because the commas were percent-encoded or the parameter repeated.
    package var unparseableIDs = 0
    /// `IDs=` requests refused with 400 because an id was not a GUID.
    package var malformedIDs = 0
    /// Answers sent as XML because the request lacked `Accept: application/json`.
    package var xmlAnswers = 0
    /// First uses of access tokens issued by a refresh, and how many failed the test's check.
    package var firstUseChecks = 0
    package var firstUseViolations = 0
    /// Longest request URL seen.
    package var longestURL = 0

    package init() {}

    /// Accepted calls of `tenant` to `endpoint`.
    package func calls(tenant: String, endpoint: String) -> Int {
        callsByTenant[tenant.lowercased()]?[endpoint] ?? 0
    }

    /// Accepted API calls in total.
    package var totalCalls: Int { callsByTenant.values.reduce(0) { $0 + $1.values.reduce(0, +) } }
}
