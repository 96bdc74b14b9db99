/// Calls Xero's token endpoint (`POST {identity}/connect/token`).
///
/// Client authentication is the Basic header (xero-facts §7.2); the body is form-encoded.
package struct IdentityClient: Sendable {
    /// What the token endpoint said.
    package enum Answer: Sendable, Equatable {
        /// 200 with a token.
        case token(TokenResponse)
        /// 4xx with an OAuth error code (`invalid_grant`, `invalid_client`, …).
        case rejected(status: Int, error: String, description: String?)
        /// No answer (timeout, connection lost). A refresh may have happened at Xero.
        case lost(String)
        /// Any other answer (5xx, 4xx without an OAuth error, unreadable 200).
        case unexpected(String, retryAfter: Duration?)
    }

    package let configuration: XeroAPIConfiguration
    package let transport: any HTTPTransport

    package init(configuration: XeroAPIConfiguration, transport: any HTTPTransport) {
        self.configuration = configuration
        self.transport = transport
    }

    /// `grant_type=refresh_token&refresh_token=…`.
    package func refresh(_ refreshToken: String, client: ClientCredentials) async -> Answer {
        await post([("grant_type", "refresh_token"), ("refresh_token", refreshToken)], client: client)
    }

    /// `grant_type=authorization_code&code=…&redirect_uri=…`.
    package func exchange(code: String, redirectURI: String, client: ClientCredentials) async -> Answer {
        await post([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI)], client: client)
    }

    /// `grant_type=client_credentials`, with `scope` when given.
    package func clientCredentials(scope: String?, client: ClientCredentials) async -> Answer {
        var form = [("grant_type", "client_credentials")]
        if let scope, !scope.isEmpty { form.append(("scope", scope)) }
        return await post(form, client: client)
    }

    private func post(_ form: [(String, String)], client: ClientCredentials) async -> Answer {
        let request = OutboundRequest(
            method: "POST",
            url: configuration.tokenEndpoint,
            headers: [
                (name: "Authorization", value: FormEncoding.basicAuthorization(id: client.id, secret: client.secret)),
                (name: "Content-Type", value: "application/x-www-form-urlencoded"),
                (name: "Accept", value: "application/json"),
            ],
            body: Array(FormEncoding.encode(form).utf8),
            timeout: configuration.requestTimeout
        )
        switch await transport.send(request) {
        case let .failure(failure):
            return .lost(failure.description)
        case let .success(response):
            if response.status == 200 {
                guard let token = TokenResponse.parse(response.body) else {
                    return .unexpected("the token endpoint answered 200 without an access token", retryAfter: nil)
                }
                return .token(token)
            }
            if (400..<500).contains(response.status), let error = OAuthError.parse(response.body) {
                return .rejected(status: response.status, error: error.error, description: error.description)
            }
            return .unexpected("the token endpoint answered \(response.status)",
                               retryAfter: RateLimitHeaders.retryAfter(response))
        }
    }
}
