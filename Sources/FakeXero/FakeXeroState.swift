import Foundation

/// Everything the fake knows, guarded by `FakeXero`'s mutex.
struct FakeXeroState {
    struct Client {
        var secret: String
        /// The one organisation of a Custom Connection (client_credentials), if any.
        var customConnectionTenant: String?
        /// Whether the client may get `marketplace.billing` tokens.
        var appStore = false
    }

    /// One user authorisation: the tenants it connected and its scopes.
    struct Grant {
        var clientId: String
        var tenants: [String]
        var scopes: String
    }

    struct RefreshToken {
        var grant: Int
        var usedAt: Date?
    }

    struct AccessToken {
        var grant: Int?
        /// Tenants when the token is not tied to a grant (static and client-credentials tokens).
        var tenants: [String]
        var scopes: String
        var expiresAt: Date
        /// The refresh token issued in the same answer, for the first-use check.
        var issuedWith: String?
        var used = false
        var billing = false
    }

    struct Code {
        var clientId: String
        var redirectURI: String
        var tenants: [String]
        var scopes: String
    }

    struct TenantLoad {
        var inFlight = 0
        var arrivals: [ContinuousClock.Instant] = []
        var day = 0
    }

    var clients: [String: Client] = [:]
    var grants: [Int: Grant] = [:]
    var nextGrant = 1
    var refreshTokens: [String: RefreshToken] = [:]
    var accessTokens: [String: AccessToken] = [:]
    var codes: [String: Code] = [:]
    var tenantNames: [String: String] = [:]
    var disconnected: Set<String> = []
    /// tenant → collection (lower case) → id (lower case) → record bytes, in insertion order.
    var records: [String: [String: [(id: String, bytes: [UInt8])]]] = [:]
    var subscriptions: [String: [UInt8]] = [:]
    var failures: [String: (status: Int, remaining: Int)] = [:]
    var redirects: [String: String] = [:]
    var forced429: [String: (problem: String, retryAfter: Int, remaining: Int)] = [:]
    var loseTokenResponses = 0
    var tokenFailures: (status: Int, remaining: Int) = (503, 0)
    var load: [String: TenantLoad] = [:]
    var appArrivals: [ContinuousClock.Instant] = []
    var stats = FakeXeroStats()
    var options: FakeXeroOptions

    init(options: FakeXeroOptions) {
        self.options = options
    }

    /// Tenants an access token reaches, minus disconnected ones.
    func tenants(of token: AccessToken) -> [String] {
        let list = token.grant.flatMap { grants[$0]?.tenants } ?? token.tenants
        return list.filter { !disconnected.contains($0) }
    }

    func record(tenant: String, collection: String, id: String) -> [UInt8]? {
        records[tenant]?[collection.lowercased()]?.first { $0.id == id.lowercased() }?.bytes
    }
}
