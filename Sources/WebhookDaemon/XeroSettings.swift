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
        /// Scopes asked for by `authorize`.
        public var scopes = "offline_access accounting.contacts.read accounting.transactions.read"
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
