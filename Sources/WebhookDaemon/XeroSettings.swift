import XeroAPI

/// The `xero` section of the config: where Xero is, how the daemon authenticates, and the
/// rate limits it keeps to. `config.example.json` lists the same keys with the same defaults.
public struct XeroSettings: Sendable, Equatable {
    /// How the daemon gets access tokens.
    public enum AuthMode: String, Sendable, CaseIterable {
        /// No fetching configured.
        case none
        /// A token handed over by another system: `PAN_SEC_XERO_ACCESS_TOKEN`, the credential
        /// `xero-access-token`, or `accessTokenFile`.
        case accessToken
        /// The refresh token from `xero-webhookd authorize`, kept in the state directory.
        case refreshToken
        /// A Custom Connection: client id and secret only.
        case clientCredentials
        /// A command that prints a JSON token response.
        case command
    }

    public struct Auth: Sendable, Equatable {
        public var mode = AuthMode.none
        public var accessTokenFile: String?
        public var clientIdFile: String?
        public var clientSecretFile: String?
        /// Program and arguments, run without a shell.
        public var command: [String]?
        /// Variables the command gets on top of the base set (`ChildEnvironment`).
        public var passEnvironment: [String] = []
        /// Scopes asked for by `authorize`. The default is the granular set; when Xero refuses it
        /// (`invalid_scope`: an app created before 2 March 2026 with broad scopes), `authorize`
        /// asks again with `broadScopes`.
        public var scopes = Auth.granularScopes

        /// The read scopes the daemon needs, granular (apps created from 2 March 2026 get only
        /// these; xero-facts §7.4): invoices and credit notes, prepayments and overpayments, contacts.
        public static let granularScopes = "offline_access accounting.invoices.read accounting.payments.read accounting.contacts.read"
        /// The same reads with the broad scopes of apps created before 2 March 2026.
        public static let broadScopes = "offline_access accounting.transactions.read accounting.contacts.read"
        /// Where Xero sends the browser back to during `authorize`; `authorize` listens there.
        public var redirectURI = "http://localhost:5080/callback"
    }

    public var apiBaseURL = "https://api.xero.com"
    public var identityBaseURL = "https://identity.xero.com"
    public var loginBaseURL = "https://login.xero.com"
    public var auth = Auth()
    public var limits = RateLimits()
    /// Longest time one request to Xero (or one run of the token command) may take.
    public var requestTimeoutMilliseconds = 30_000

    public init() {}

    /// The client configuration these settings describe.
    public var apiConfiguration: XeroAPIConfiguration {
        var configuration = XeroAPIConfiguration()
        configuration.apiBaseURL = apiBaseURL
        configuration.identityBaseURL = identityBaseURL
        configuration.loginBaseURL = loginBaseURL
        configuration.limits = limits
        configuration.requestTimeout = .milliseconds(requestTimeoutMilliseconds)
        return configuration
    }
}
