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
    /// clientId → the tenants a user consents to on the authorize page, and the app's scope family.
    var consents: [String: (tenants: [String], appScopes: FakeXero.AppScopes)] = [:]
    var tenantNames: [String: String] = [:]
    var disconnected: Set<String> = []
    /// tenant → collection (lower case) → id (lower case) → record bytes, in insertion order.
    var records: [String: [String: [(id: String, bytes: [UInt8])]]] = [:]
    /// Records whose status is ARCHIVED (`ContactStatus`), by `statusKey`.
    var archived: Set<String> = []
    var subscriptions: [String: [UInt8]] = [:]
    var failures: [String: (status: Int, remaining: Int)] = [:]
    var redirects: [String: String] = [:]
    var forced429: [String: (problem: String, retryAfter: Int, remaining: Int)] = [:]
    /// Answers to send verbatim, by tenant (lower case), `appstore` or `connections`, in order.
    var canned: [String: [CannedAnswer]] = [:]
    var loseTokenResponses = 0
    var tokenRequestsInFlight = 0
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

    /// The next canned answer for `key`, removed from the list.
    mutating func takeCanned(_ key: String) -> CannedAnswer? {
        guard var list = canned[key], !list.isEmpty else { return nil }
        let answer = list.removeFirst()
        canned[key] = list
        return answer
    }

    /// A stored record; with `hidingArchived`, nil for an archived one (as Xero's lists omit them).
    func record(tenant: String, collection: String, id: String, hidingArchived: Bool = false) -> [UInt8]? {
        if hidingArchived && archived.contains(Self.statusKey(tenant: tenant, collection: collection, id: id)) { return nil }
        return records[tenant]?[collection.lowercased()]?.first { $0.id == id.lowercased() }?.bytes
    }

    static func statusKey(tenant: String, collection: String, id: String) -> String {
        "\(tenant.lowercased()) \(collection.lowercased()) \(id.lowercased())"
    }
}
