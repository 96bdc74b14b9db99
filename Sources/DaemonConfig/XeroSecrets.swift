import Foundation
import SystemSupport
import XeroAPI

/// The Xero secrets and where each came from. Looked up in this order (DESIGN.md: the
/// environment and systemd credentials win over files):
/// 1. the environment: `PAN_SEC_XERO_CLIENT_ID`, `PAN_SEC_XERO_CLIENT_SECRET`,
///    `PAN_SEC_XERO_ACCESS_TOKEN` (+ `PAN_SEC_XERO_EXPIRES_IN`, `PAN_SEC_XERO_SCOPE`), and
///    `PAN_SEC_XERO_TENANT_URL` for the tenants to fetch for (`TenantURLReading`);
/// 2. systemd credentials in `$CREDENTIALS_DIRECTORY`: `xero-client-id`, `xero-client-secret`,
///    `xero-access-token`;
/// 3. the files named by `xero.auth.clientIdFile`, `clientSecretFile`, `accessTokenFile`.
///
/// Nothing here is ever printed; `describe` says only whether a secret is set and from where.
package struct XeroSecrets: Sendable {
    package static let clientIdVariable = "PAN_SEC_XERO_CLIENT_ID"
    package static let clientSecretVariable = "PAN_SEC_XERO_CLIENT_SECRET"
    package static let accessTokenVariable = "PAN_SEC_XERO_ACCESS_TOKEN"
    package static let expiresInVariable = "PAN_SEC_XERO_EXPIRES_IN"
    package static let scopeVariable = "PAN_SEC_XERO_SCOPE"

    package var clientId: String?
    package var clientIdSource: String?
    package var clientSecret: String?
    package var clientSecretSource: String?
    /// Where the `accessToken` mode reads its token, in order of preference: the environment,
    /// the systemd credential, the configured file. A later source is used when the tokens
    /// before it expired or were refused by Xero (each is re-read after a 401).
    package var accessTokenSources: [StaticTokenProvider.Source] = []
    /// Which tenants to fetch for, from `PAN_SEC_XERO_TENANT_URL` (`TenantURLReading`).
    package var tenantScope = TenantScope.all
    /// Why `PAN_SEC_XERO_TENANT_URL` was not used, when it was set but could not be.
    package var tenantURLNote: String?
    /// The preferred token source.
    package var accessToken: StaticTokenProvider.Source? { accessTokenSources.first }
    package var accessTokenSource: String?

    /// Why `PAN_SEC_XERO_EXPIRES_IN` was not used, when it cannot be read but the token's own
    /// `exp` makes it irrelevant (a warning, not a failure).
    package var expiresInNote: String?

    /// The whole environment of the token command: the base variables and the names in
    /// `xero.auth.passEnvironment`, taken from the daemon's environment (`ChildEnvironment`:
    /// none of the secrets above unless named there). Built here, where the Xero side reads
    /// the daemon's environment.
    package var commandEnvironment = ChildEnvironment(from: [:])

    /// `PAN_SEC_XERO_EXPIRES_IN` as whole seconds (surrounding whitespace and newlines trimmed,
    /// as for the token), nil when unset, or why it cannot be read.
    package static func readExpiresIn(_ environment: [String: String]) -> Result<Int?, ConfigError> {
        guard let text = environment[expiresInVariable] else { return .success(nil) }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let seconds = Int(trimmed), seconds >= 0 else {
            return .failure(ConfigError(expiresInVariable, "\"\(trimmed.prefix(40))\" is not a whole number of seconds"))
        }
        return .success(seconds)
    }

    /// Client id and secret together, when both are present.
    package var client: ClientCredentials? {
        guard let clientId, let clientSecret else { return nil }
        return ClientCredentials(id: clientId, secret: clientSecret)
    }

    /// Loads the secrets the mode can use and fails, naming what is missing, when the mode
    /// cannot work without one.
    package static func load(_ settings: XeroSettings, environment: [String: String]) throws(ConfigError) -> XeroSecrets {
        var secrets = XeroSecrets()
        secrets.commandEnvironment = ChildEnvironment(from: environment, passing: settings.auth.passEnvironment)
        let credentials = environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 }
        (secrets.clientId, secrets.clientIdSource) = try secret(
            variable: clientIdVariable, credential: "xero-client-id", file: settings.auth.clientIdFile,
            fileKey: "xero.auth.clientIdFile", environment: environment, credentials: credentials)
        (secrets.clientSecret, secrets.clientSecretSource) = try secret(
            variable: clientSecretVariable, credential: "xero-client-secret", file: settings.auth.clientSecretFile,
            fileKey: "xero.auth.clientSecretFile", environment: environment, credentials: credentials)

        if let token = environment[accessTokenVariable] {
            let trimmed = token.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw ConfigError(accessTokenVariable, "is set but empty") }
            var expiresIn: Int?
            switch readExpiresIn(environment) {
            case let .success(seconds):
                expiresIn = seconds
            case let .failure(problem):
                // The token's own `exp` is its expiry; EXPIRES_IN would not be used anyway.
                guard AccessTokenClaims.expiry(of: trimmed) != nil else { throw problem }
                secrets.expiresInNote = "\(expiresInVariable) \(problem.reason); not used, the token's own exp is its expiry"
            }
            let origin = "environment \(accessTokenVariable)"
            secrets.accessTokenSources.append(.value(accessToken: trimmed, expiresIn: expiresIn, scope: environment[scopeVariable],
                                                     origin: origin))
            secrets.accessTokenSource = origin
        }
        if let credentials, FileStamp.of(credentials + "/xero-access-token") != nil {
            let origin = "systemd credential xero-access-token"
            secrets.accessTokenSources.append(.file(path: credentials + "/xero-access-token", origin: origin))
            secrets.accessTokenSource = secrets.accessTokenSource ?? origin
        }
        if let file = settings.auth.accessTokenFile {
            secrets.accessTokenSources.append(.file(path: file, origin: "file \(file)"))
            secrets.accessTokenSource = secrets.accessTokenSource ?? "file \(file)"
        }

        (secrets.tenantScope, secrets.tenantURLNote) = TenantURLReading.read(environment: environment, apiBaseURL: settings.apiBaseURL)

        switch settings.auth.mode {
        case .none, .command:
            break
        case .accessToken:
            guard secrets.accessToken != nil else {
                throw ConfigError("xero.auth.accessTokenFile", "no access token: set \(accessTokenVariable), pass the "
                    + "systemd credential \"xero-access-token\", or name a file")
            }
        case .refreshToken, .clientCredentials:
            guard secrets.clientId != nil else {
                throw ConfigError("xero.auth.clientIdFile", "no client id: set \(clientIdVariable), pass the systemd "
                    + "credential \"xero-client-id\", or name a file")
            }
            guard secrets.clientSecret != nil else {
                throw ConfigError("xero.auth.clientSecretFile", "no client secret: set \(clientSecretVariable), pass the "
                    + "systemd credential \"xero-client-secret\", or name a file")
            }
        }
        return secrets
    }

    private static func secret(variable: String, credential: String, file: String?, fileKey: String,
                               environment: [String: String], credentials: String?) throws(ConfigError) -> (String?, String?) {
        if let value = environment[variable] {
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw ConfigError(variable, "is set but empty") }
            return (trimmed, "environment \(variable)")
        }
        if let credentials, let bytes = try? FileBytes.read(credentials + "/" + credential) {  // absent: try the file
            let trimmed = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw ConfigError("credential \(credential)", "\(credentials)/\(credential) is empty") }
            return (trimmed, "systemd credential \(credential)")
        }
        guard let file else { return (nil, nil) }
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(file)
        } catch {
            throw ConfigError(fileKey, "cannot read \(file): \(error)")
        }
        let trimmed = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ConfigError(fileKey, "\(file) is empty") }
        return (trimmed, "file \(file)")
    }
}
