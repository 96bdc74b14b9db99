/// Where Xero lives and how hard the client may use it.
///
/// The defaults are Xero's production hosts and Xero's published limits (xero-facts §6); a
/// configuration may lower the limits, never raise them above what Xero allows.
package struct XeroAPIConfiguration: Sendable, Equatable {
    /// Base of the accounting, App Store and connections APIs. Bearer tokens are sent only to
    /// this origin (scheme, host and port).
    package var apiBaseURL = "https://api.xero.com"
    /// Base of the token endpoint (`/connect/token`).
    package var identityBaseURL = "https://identity.xero.com"
    /// Base of the authorize page (`/identity/connect/authorize`).
    package var loginBaseURL = "https://login.xero.com"
    /// Per-tenant and app-wide call limits.
    package var limits = RateLimits()
    /// Longest time one HTTP exchange may take (token endpoint, API calls, the token command).
    package var requestTimeout: Duration = .seconds(30)
    /// How long before expiry a refreshable token is renewed.
    package var refreshMargin: Duration = .seconds(60)
    /// Most ids in one `IDs=` request. Xero fails at about 53 (URL length); 50 is its advice.
    package var maxIDsPerRequest = 50
    /// Longest request URL the client sends. Xero answers 404 past about 2,000 characters.
    package var maxURLLength = 2000

    package init() {}

    /// `{identity}/connect/token`.
    package var tokenEndpoint: String { Self.join(identityBaseURL, "/connect/token") }
    /// `{api}/connections`.
    package var connectionsEndpoint: String { Self.join(apiBaseURL, "/connections") }
    /// `{api}/api.xro/2.0`.
    package var accountingBase: String { Self.join(apiBaseURL, "/api.xro/2.0") }
    /// `{api}/appstore/2.0`.
    package var appStoreBase: String { Self.join(apiBaseURL, "/appstore/2.0") }
    /// `{login}/identity/connect/authorize`.
    package var authorizeEndpoint: String { Self.join(loginBaseURL, "/identity/connect/authorize") }

    static func join(_ base: String, _ path: String) -> String {
        base.hasSuffix("/") ? String(base.dropLast()) + path : base + path
    }
}

/// Xero's rate limits (xero-facts §6). Limits apply per connected tenant, except the app minute
/// limit, which counts every call of the app.
package struct RateLimits: Sendable, Equatable {
    /// Calls in progress at once for one tenant (Xero: 5).
    package var concurrentPerTenant = 5
    /// Calls in any 60 seconds for one tenant (Xero: 60).
    package var perMinutePerTenant = 60
    /// Calls in a day for one tenant (Xero: 5,000; 1,000 on the Starter tier).
    package var perDayPerTenant = 5000
    /// Calls in any 60 seconds across all tenants (Xero: 10,000).
    package var perMinuteApp = 10_000

    package init(concurrentPerTenant: Int = 5, perMinutePerTenant: Int = 60, perDayPerTenant: Int = 5000, perMinuteApp: Int = 10_000) {
        self.concurrentPerTenant = concurrentPerTenant
        self.perMinutePerTenant = perMinutePerTenant
        self.perDayPerTenant = perDayPerTenant
        self.perMinuteApp = perMinuteApp
    }
}
