import Foundation

/// The `clientCredentials` mode (Xero Custom Connections, xero-facts §7.5): a new access token
/// from the client id and secret whenever the current one is about to expire. There is no
/// refresh token. Also used with scope `marketplace.billing` for the App Store API.
///
/// Renewals are single-flight. A refused grant (`invalid_client`, `unauthorized_client`,
/// `invalid_scope`) pauses the provider until `reload()`.
package actor ClientCredentialsProvider: TokenProvider {
    private let client: ClientCredentials
    private let scope: String?
    private let identity: IdentityClient
    private let now: @Sendable () -> Date
    private let margin: Duration
    private let label: String

    private var current: XeroToken?
    private var pausedReason: String?
    private var lastFailure: String?
    private let renewal = SingleFlight<TokenAvailability>()
    private var renewals = 0

    /// - Parameters:
    ///   - scope: sent as `scope` when not nil (e.g. `marketplace.billing`).
    ///   - label: names the credentials in messages and status, e.g. `environment PAN_SEC_XERO_CLIENT_ID`.
    package init(client: ClientCredentials, scope: String?, identity: IdentityClient, label: String = "client credentials",
                now: @escaping @Sendable () -> Date = Date.init) {
        self.client = client
        self.scope = scope
        self.identity = identity
        self.label = label
        self.now = now
        self.margin = identity.configuration.refreshMargin
    }

    package func token() async -> TokenAvailability {
        if let pausedReason { return .paused(pausedReason) }
        if let current, current.isValid(at: now(), margin: margin) { return .ready(current) }
        return await renew()
    }

    package func tokenRejected(_ rejected: XeroToken) async -> TokenAvailability {
        if let pausedReason { return .paused(pausedReason) }
        if let current, current.accessToken != rejected.accessToken, current.isValid(at: now(), margin: margin) {
            return .ready(current)
        }
        return await renew()
    }

    package func reload() async {
        pausedReason = nil
        current = nil
    }

    package func status() async -> TokenStatus {
        let state: TokenStatus.State
        if let pausedReason {
            state = .paused(pausedReason)
        } else if let current {
            state = current.isValid(at: now(), margin: margin) ? .ready : (lastFailure.map { .failing($0) } ?? .expired)
        } else {
            state = lastFailure.map { .failing($0) } ?? .notObtained
        }
        return TokenStatus(mode: "clientCredentials", source: label, state: state, expiresAt: current?.expiresAt,
                           scopes: current?.scopes ?? [], renewals: renewals)
    }

    private func renew() async -> TokenAvailability {
        await renewal.run { await self.performRenewal() }
    }

    private func performRenewal() async -> TokenAvailability {
        switch await identity.clientCredentials(scope: scope, client: client) {
        case let .token(response):
            let issued = now()
            let token = XeroToken(accessToken: response.accessToken,
                                  expiresAt: response.expiresIn.map { issued.addingTimeInterval(Double($0)) },
                                  scopes: response.scopes.isEmpty ? (scope.map { [$0] } ?? []) : response.scopes)
            current = token
            renewals += 1
            lastFailure = nil
            return .ready(token)
        case let .rejected(status, error, _):
            let what = scope.map { "the client credentials grant with scope \($0)" } ?? "the client credentials grant"
            pausedReason = "Xero refused \(what) (\(error), HTTP \(status)): check the client id and secret from \(label)"
            return .paused(pausedReason!)
        case let .lost(reason):
            lastFailure = "no answer from the token endpoint (\(reason))"
            return .unavailable(lastFailure!, retryAfter: nil)
        case let .unexpected(reason, retryAfter):
            lastFailure = reason
            return .unavailable(reason, retryAfter: retryAfter)
        }
    }
}
