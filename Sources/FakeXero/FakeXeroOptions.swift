/// How the fake behaves. Defaults are Xero's documented values (xero-facts §6, §7).
public struct FakeXeroOptions: Sendable {
    /// Xero's limits, enforced with 429 answers.
    public struct Limits: Sendable {
        public var concurrentPerTenant = 5
        public var perMinutePerTenant = 60
        public var perDayPerTenant = 5000
        public var perMinuteApp = 10_000
        /// `Retry-After` sent with a `day` 429 (a real capture showed 66975 s).
        public var dayRetryAfterSeconds = 66_975

        public init() {}
    }

    public var limits = Limits()
    /// `expires_in` of issued access tokens, in seconds (Xero: 1800).
    public var accessTokenLifetime = 1800
    /// How long a used refresh token still works (Xero: 30 minutes).
    public var refreshTokenGraceSeconds: Double = 1800
    /// Time each API answer takes, so concurrent calls overlap as they do against Xero.
    public var responseDelay: Duration = .zero
    /// Request URLs longer than this get 404, as Xero's do (about 2,000 characters).
    public var maxURLLength = 2000

    public init() {}
}
