import Foundation
import HTTPServer

/// `POST /connect/token` (xero-facts §7.2, §7.5).
extension FakeXero {
    func handleToken(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let form = Dictionary(FakeXeroWire.pairs(Substring(String(decoding: request.body, as: UTF8.self)), plusIsSpace: true),
                              uniquingKeysWith: { first, _ in first })
        let (response, lose, delay) = state.withLock { state -> (HTTPResponse, Bool, Duration) in
            state.tokenRequestsInFlight += 1
            state.stats.maxTokenRequestsInFlight = max(state.stats.maxTokenRequestsInFlight, state.tokenRequestsInFlight)
            let delay = state.options.tokenDelay
            if state.tokenFailures.remaining > 0 {
                state.tokenFailures.remaining -= 1
                state.stats.failedTokenRequests += 1
                return (HTTPResponse(status: state.tokenFailures.status, headers: [(name: "Content-Type", value: "text/html")],
                                     body: Array("<html><body>Service Unavailable</body></html>".utf8)), false, delay)
            }
            let response = tokenAnswer(form, authorization: request.head.headers["Authorization"], state: &state)
            guard state.loseTokenResponses > 0 else { return (response, false, delay) }
            state.loseTokenResponses -= 1
            state.stats.lostTokenResponses += 1
            return (response, true, delay)
        }
        let ended: @Sendable () -> Void = { self.state.withLock { $0.tokenRequestsInFlight -= 1 } }
        // A lost answer: the grant has happened, but the client never hears of it. The
        // connection stays open without an answer until the client gives up or the fake stops.
        if lose {
            ended()
            return
        }
        send(response, to: responder, delay: delay, after: ended)
    }

    private func tokenAnswer(_ form: [String: String], authorization: String?, state: inout FakeXeroState) -> HTTPResponse {
        var clientId = form["client_id"]
        var secret = form["client_secret"]
        if let authorization, authorization.lowercased().hasPrefix("basic "),
           let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
           let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") {
            clientId = String(text[..<colon])
            secret = String(text[text.index(after: colon)...])
        }
        guard let clientId, let client = state.clients[clientId], client.secret == secret else {
            return oauthError("invalid_client")
        }
        switch form["grant_type"] {
        case "refresh_token":
            guard let presented = form["refresh_token"], var record = state.refreshTokens[presented],
                  state.grants[record.grant]?.clientId == clientId else {
                state.stats.invalidGrants += 1
                return oauthError("invalid_grant")
            }
            if let usedAt = record.usedAt {
                guard now().timeIntervalSince(usedAt) <= state.options.refreshTokenGraceSeconds else {
                    state.stats.invalidGrants += 1
                    return oauthError("invalid_grant")
                }
                state.stats.graceReuses += 1
            } else {
                record.usedAt = now()
                state.refreshTokens[presented] = record
            }
            state.stats.tokenGrants["refresh_token", default: 0] += 1
            return issuePair(grant: record.grant, state: &state)
        case "authorization_code":
            guard let code = form["code"], let registered = state.codes[code], registered.clientId == clientId,
                  registered.redirectURI == form["redirect_uri"] else {
                state.stats.invalidGrants += 1
                return oauthError("invalid_grant")
            }
            state.codes[code] = nil  // single use
            let grant = state.nextGrant
            state.nextGrant += 1
            state.grants[grant] = .init(clientId: clientId, tenants: registered.tenants, scopes: registered.scopes)
            state.stats.tokenGrants["authorization_code", default: 0] += 1
            return issuePair(grant: grant, state: &state)
        case "client_credentials":
            let scope = form["scope"] ?? ""
            let billing = scope.split(separator: " ").contains("marketplace.billing")
            if billing {
                guard client.appStore else { return oauthError("invalid_scope") }
            } else if client.customConnectionTenant == nil {
                return oauthError("unauthorized_client")
            }
            let lifetime = state.options.accessTokenLifetime
            let granted = billing ? "marketplace.billing" : "accounting.transactions.read accounting.contacts.read"
            let expiry = now().addingTimeInterval(Double(lifetime))
            let token = FakeXeroWire.accessToken(issuedAt: now(), expiresAt: expiry, clientId: clientId, scopes: granted)
            state.accessTokens[token] = .init(grant: nil, tenants: billing ? [] : [client.customConnectionTenant!],
                                              scopes: granted, expiresAt: expiry, billing: billing)
            state.stats.tokenGrants["client_credentials", default: 0] += 1
            return Self.jsonResponse(200, #"{"access_token":"\#(token)","expires_in":\#(lifetime),"token_type":"Bearer","scope":"\#(granted)"}"#)
        default:
            return oauthError("unsupported_grant_type")
        }
    }

    private func issuePair(grant: Int, state: inout FakeXeroState) -> HTTPResponse {
        let refresh = FakeXeroWire.randomToken("rt")
        let lifetime = state.options.accessTokenLifetime
        let scopes = state.grants[grant]?.scopes ?? ""
        let expiry = now().addingTimeInterval(Double(lifetime))
        let access = FakeXeroWire.accessToken(issuedAt: now(), expiresAt: expiry, clientId: state.grants[grant]?.clientId, scopes: scopes)
        state.refreshTokens[refresh] = .init(grant: grant)
        state.accessTokens[access] = .init(grant: grant, tenants: [], scopes: scopes, expiresAt: expiry, issuedWith: refresh)
        return Self.jsonResponse(200, #"{"id_token":"fake.id.token","access_token":"\#(access)","expires_in":\#(lifetime),"token_type":"Bearer","refresh_token":"\#(refresh)","scope":"\#(scopes)"}"#)
    }

    private func oauthError(_ code: String) -> HTTPResponse {
        Self.jsonResponse(400, #"{"error":"\#(code)"}"#)
    }
}
