/// How the fake behaves. Defaults are Xero's documented values (xero-facts §6, §7).
package struct FakeXeroOptions: Sendable {
    /// Xero's limits, enforced with 429 answers.
    package struct Limits: Sendable {
        package var concurrentPerTenant = 5
        package var perMinutePerTenant = 60
        package var perDayPerTenant = 5000
        package var perMinuteApp = 10_000
        /// `Retry-After` sent with a `day` 429 (a real capture showed 66975 s).
        package var dayRetryAfterSeconds = 66_975

        package init() {}
    }

    package var limits = Limits()
    /// `expires_in` of issued access tokens, in seconds (Xero: 1800).
    package var accessTokenLifetime = 1800
    /// How long a used refresh token still works (Xero: 30 minutes).
    package var refreshTokenGraceSeconds: Double = 1800
    /// Time each API answer takes, so concurrent calls overlap as they do against Xero.
    package var responseDelay: Duration = .zero
    /// Time each token answer takes, so refreshes sent from several places at once overlap
    /// (and `maxTokenRequestsInFlight` sees it) unless the senders take turns.
    package var tokenDelay: Duration = .zero
    /// Request URLs longer than this get 404, as Xero's do (about 2,000 characters).
    package var maxURLLength = 2000

    package init() {}
}
