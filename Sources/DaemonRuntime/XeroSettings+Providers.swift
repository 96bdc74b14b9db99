import DaemonConfig
import Foundation
import SystemSupport
import XeroAPI

/// Building the Xero client from the settings and secrets.
extension XeroSettings {
    /// The token provider for the configured mode; nil for `none`. With `sharedTokens` (cluster
    /// mode), the refresh-token set lives there and the local token file only seeds it.
    package func makeTokenProvider(secrets: XeroSecrets, stateDirectory: String, transport: any HTTPTransport,
                                  sharedTokens: (any SharedTokenStore)? = nil,
                                  now: @escaping @Sendable () -> Date = Date.init) -> (any TokenProvider)? {
        let identity = IdentityClient(configuration: apiConfiguration, transport: transport)
        switch auth.mode {
        case .none:
            return nil
        case .accessToken:
            return secrets.accessTokenSources.isEmpty ? nil : StaticTokenProvider(sources: secrets.accessTokenSources, now: now)
        case .refreshToken:
            guard let client = secrets.client else { return nil }
            if let sharedTokens {
                return SharedRefreshTokenProvider(client: client, store: sharedTokens, seed: tokenFile(stateDirectory: stateDirectory),
                                                  identity: identity, now: now)
            }
            return RefreshTokenProvider(client: client, store: tokenFile(stateDirectory: stateDirectory), identity: identity, now: now)
        case .clientCredentials:
            guard let client = secrets.client else { return nil }
            return ClientCredentialsProvider(client: client, scope: nil, identity: identity,
                                             label: secrets.clientIdSource ?? "client credentials", now: now)
        case .command:
            return CommandTokenProvider(command: auth.command ?? [], timeout: .milliseconds(requestTimeoutMilliseconds),
                                        environment: secrets.commandEnvironment, now: now)
        }
    }

    /// The App Store billing provider (client credentials, scope `marketplace.billing`) for
    /// SUBSCRIPTION events, when a client id and secret are available.
    package func makeBillingProvider(secrets: XeroSecrets, transport: any HTTPTransport,
                                    now: @escaping @Sendable () -> Date = Date.init) -> (any TokenProvider)? {
        guard auth.mode != .none, let client = secrets.client else { return nil }
        let identity = IdentityClient(configuration: apiConfiguration, transport: transport)
        return ClientCredentialsProvider(client: client, scope: "marketplace.billing", identity: identity,
                                         label: secrets.clientIdSource ?? "client credentials", now: now)
    }

    /// The client the worker uses; nil when `xero.auth.mode` is `none`.
    package func makeClient(stateDirectory: String, environment: [String: String],
                           transport: any HTTPTransport = URLSessionTransport(),
                           sharedTokens: (any SharedTokenStore)? = nil,
                           rateBudget: (any RateBudget)? = nil) throws(ConfigError) -> XeroClient? {
        let secrets = try XeroSecrets.load(self, environment: environment)
        guard let provider = makeTokenProvider(secrets: secrets, stateDirectory: stateDirectory, transport: transport,
                                               sharedTokens: sharedTokens) else {
            return nil
        }
        do {
            return try XeroClient(configuration: apiConfiguration, tokens: provider,
                                  billingTokens: makeBillingProvider(secrets: secrets, transport: transport), transport: transport,
                                  tenantScope: secrets.tenantScope,
                                  rateLimitStateFile: stateDirectory + "/xero-rate-limits.json", rateBudget: rateBudget)
        } catch {
            // Name what is wrong: the API base, or else the tenant listing read from the variable.
            let key = URLOrigin(apiConfiguration.apiBaseURL) == nil ? "xero.apiBaseURL" : TenantURLReading.variable
            throw ConfigError(key, error.description)
        }
    }

    /// Lines for `check-config`: every setting, and for each secret only whether it is set and
    /// where it comes from.
    package func describe(secrets: XeroSecrets, stateDirectory: String) -> [String] {
        func masked(_ value: String?, _ source: String?) -> String {
            value == nil ? "not set" : "set (masked) from \(source ?? "?")"
        }
        var lines = [
            "xero.apiBaseURL: \(apiBaseURL)",
            "xero.identityBaseURL: \(identityBaseURL)",
            "xero.loginBaseURL: \(loginBaseURL)",
            "xero.requestTimeoutMilliseconds: \(requestTimeoutMilliseconds)",
            "xero.auth.mode: \(auth.mode.rawValue)",
            "xero.auth.clientId: \(masked(secrets.clientId, secrets.clientIdSource))",
            "xero.auth.clientSecret: \(masked(secrets.clientSecret, secrets.clientSecretSource))",
            "xero.auth.accessToken: \(secrets.accessToken == nil ? "not set" : "set (masked) from \(secrets.accessTokenSource ?? "?")")"
                + (secrets.expiresInNote.map { " (\($0))" } ?? ""),
            "xero.auth.tenants: \(secrets.tenantScope)" + (secrets.tenantURLNote.map { " (\($0))" } ?? ""),
        ]
        if let command = auth.command {
            lines.append("xero.auth.command: \(command[0]) (\(command.count - 1) argument\(command.count == 2 ? "" : "s"), not shown)")
        } else {
            lines.append("xero.auth.command: none")
        }
        lines.append("xero.auth.passEnvironment: " + ChildEnvironment.describe(passing: auth.passEnvironment, built: secrets.commandEnvironment))
        lines += [
            "xero.auth.scopes: \(auth.scopes)",
            "xero.auth.redirectURI: \(auth.redirectURI)",
            "xero.auth.tokenFile: \(tokenFile(stateDirectory: stateDirectory).path)",
            "xero.limits.concurrentPerTenant: \(limits.concurrentPerTenant)",
            "xero.limits.perMinutePerTenant: \(limits.perMinutePerTenant)",
            "xero.limits.perDayPerTenant: \(limits.perDayPerTenant)",
            "xero.limits.perMinuteApp: \(limits.perMinuteApp)",
        ]
        return lines
    }
}
