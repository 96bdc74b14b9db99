import XeroAPI

/// The `xero` section of the config: where Xero is, how the daemon authenticates, and the
/// rate limits it keeps to. `config.example.json` lists the same keys with the same defaults.
package struct XeroSettings: Sendable, Equatable {
    /// How the daemon gets access tokens.
    package enum AuthMode: String, Sendable, CaseIterable {
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

    package struct Auth: Sendable, Equatable {
        package var mode = AuthMode.none
        package var accessTokenFile: String?
        package var clientIdFile: String?
        package var clientSecretFile: String?
        /// Program and arguments, run without a shell.
        package var command: [String]?
        /// Variables the command gets on top of the base set (`ChildEnvironment`).
        package var passEnvironment: [String] = []
        /// Scopes asked for by `authorize`. The default is the granular set; when Xero refuses it
        /// (`invalid_scope`: an app created before 2 March 2026 with broad scopes), `authorize`
        /// asks again with `broadScopes`.
        package var scopes = Auth.granularScopes

        /// The read scopes the daemon needs, granular (apps created from 2 March 2026 get only
        /// these; xero-facts §7.4): invoices and credit notes, prepayments and overpayments, contacts.
        package static let granularScopes = "offline_access accounting.invoices.read accounting.payments.read accounting.contacts.read"
        /// The same reads with the broad scopes of apps created before 2 March 2026.
        package static let broadScopes = "offline_access accounting.transactions.read accounting.contacts.read"
        /// Where Xero sends the browser back to during `authorize`; `authorize` listens there.
        package var redirectURI = "http://localhost:5080/callback"
    }

    package var apiBaseURL = "https://api.xero.com"
    package var identityBaseURL = "https://identity.xero.com"
    package var loginBaseURL = "https://login.xero.com"
    package var auth = Auth()
    package var limits = RateLimits()
    /// Longest time one request to Xero (or one run of the token command) may take.
    package var requestTimeoutMilliseconds = 30_000

    package init() {}

    /// The client configuration these settings describe.
    package var apiConfiguration: XeroAPIConfiguration {
        var configuration = XeroAPIConfiguration()
        configuration.apiBaseURL = apiBaseURL
        configuration.identityBaseURL = identityBaseURL
        configuration.loginBaseURL = loginBaseURL
        configuration.limits = limits
        configuration.requestTimeout = .milliseconds(requestTimeoutMilliseconds)
        return configuration
    }

    /// Where the refresh-token mode keeps its token set.
    package func tokenFile(stateDirectory: String) -> TokenFile { TokenFile(stateDirectory: stateDirectory) }
}
