import Foundation

/// One refresh of a refresh token at Xero's token endpoint, with the answers sorted the way both
/// refresh-token providers (one daemon's file, several daemons' shared store) act on them.
enum RefreshAttempt {
    enum Outcome: Sendable {
        /// Xero rotated the pair: store `set` before its access token is used.
        case rotated(StoredTokenSet)
        /// Xero refused the refresh token for good (`invalid_grant`); the reason says what the
        /// operator does.
        case refused(String)
        /// Xero refused this client (`invalid_client`, a wrong id or secret): nothing is known
        /// about the refresh token.
        case clientRejected(String)
        /// A passing problem; try again later.
        case failed(String, retryAfter: Duration?)
    }

    /// Sends `refreshToken`; a refresh that gets no answer is sent again at once with the same
    /// refresh token up to `lostAnswerRetries` times (Xero may have rotated it, and accepts the
    /// old one for 30 minutes).
    static func run(_ refreshToken: String, client: ClientCredentials, identity: IdentityClient, lostAnswerRetries: Int,
                    now: @Sendable () -> Date) async -> Outcome {
        var attempts = 0
        while true {
            switch await identity.refresh(refreshToken, client: client) {
            case let .token(response):
                guard let set = StoredTokenSet(response, issuedAt: now(), previousRefreshToken: refreshToken), set.token != nil else {
                    return .failed("the token endpoint answered without a token", retryAfter: nil)
                }
                return .rotated(set)
            case let .rejected(_, error, _) where error == "invalid_grant":
                return .refused("Xero refused the refresh token (invalid_grant): it has expired, been revoked or been "
                    + "replaced. Run `xero-webhookd authorize` again.")
            case let .rejected(status, error, _):
                return .clientRejected("Xero refused the refresh (\(error), HTTP \(status)): check the client id and secret, "
                    + "then run `xero-webhookd authorize` again if needed.")
            case let .lost(reason):
                attempts += 1
                if attempts <= lostAnswerRetries { continue }
                return .failed("no answer from the token endpoint (\(reason)); the same refresh token will be sent "
                    + "again (Xero accepts it for 30 minutes)", retryAfter: nil)
            case let .unexpected(reason, retryAfter):
                return .failed(reason, retryAfter: retryAfter)
            }
        }
    }
}
