import Foundation
import HTTPServer

/// `GET /identity/connect/authorize` (xero-facts §7.1, §7.4), standing in for the user's browser
/// session at Xero: the user is taken to have consented for the tenants set with `setConsent`,
/// and the browser is redirected to `redirect_uri` with a code, or with `error=invalid_scope`
/// when a scope is unknown or not one the app may ask for. Apps created from 2 March 2026 may
/// ask only for granular scopes; older apps only for the broad ones.
extension FakeXero {
    /// Which scope family an app may ask for.
    package enum AppScopes: Sendable {
        /// Apps created from 2 March 2026: `accounting.invoices`, `accounting.payments`, …
        case granular
        /// Apps created before: `accounting.transactions`, …
        case broad
    }

    static let commonScopes: Set<String> = [
        "openid", "profile", "email", "offline_access", "accounting.contacts", "accounting.contacts.read",
        "accounting.settings", "accounting.settings.read", "accounting.attachments", "accounting.attachments.read",
        "accounting.reports.read", "accounting.journals.read",
    ]
    static let broadOnlyScopes: Set<String> = ["accounting.transactions", "accounting.transactions.read"]
    static let granularOnlyScopes: Set<String> = [
        "accounting.invoices", "accounting.invoices.read", "accounting.payments", "accounting.payments.read",
        "accounting.banktransactions", "accounting.banktransactions.read", "accounting.manualjournals",
        "accounting.manualjournals.read",
    ]

    /// The tenants a user consents to when the app `clientId` sends them through the authorize
    /// page, and which scope family the app may ask for.
    package func setConsent(clientId: String, tenants: [String], appScopes: AppScopes = .granular) {
        state.withLock { $0.consents[clientId] = (tenants.map { $0.lowercased() }, appScopes) }
    }

    func handleAuthorize(_ request: HTTPRequest, _ responder: HTTPResponder) {
        count("authorize")
        let query = Dictionary(FakeXeroWire.pairs(FakeXeroWire.query(request.head.target), plusIsSpace: true),
                               uniquingKeysWith: { first, _ in first })
        guard let clientId = query["client_id"], let redirectURI = query["redirect_uri"], query["response_type"] == "code",
              var location = URLComponents(string: redirectURI),
              let consent = state.withLock({ $0.consents[clientId] }) else {
            return responder.send(HTTPResponse(status: 400, body: Array("unauthorized_client".utf8)))
        }
        let requested = (query["scope"] ?? "").split(separator: " ").map(String.init)
        let allowed = Self.commonScopes.union(consent.appScopes == .granular ? Self.granularOnlyScopes : Self.broadOnlyScopes)
        var items: [URLQueryItem] = []
        if requested.isEmpty || !requested.allSatisfy(allowed.contains) {
            state.withLock { $0.stats.invalidScopes += 1 }
            items.append(URLQueryItem(name: "error", value: "invalid_scope"))
        } else {
            let code = FakeXeroWire.randomToken("code")
            registerAuthorizationCode(code, clientId: clientId, redirectURI: redirectURI, tenants: consent.tenants,
                                      scopes: requested.joined(separator: " "))
            items.append(URLQueryItem(name: "code", value: code))
            items.append(URLQueryItem(name: "scope", value: requested.joined(separator: " ")))
        }
        if let state = query["state"] { items.append(URLQueryItem(name: "state", value: state)) }
        location.queryItems = (location.queryItems ?? []) + items
        responder.send(HTTPResponse(status: 302, headers: [(name: "Location", value: location.string ?? redirectURI)]))
    }
}
