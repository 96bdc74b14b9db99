import Foundation
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime
import XeroAPI
import XeroTestSupport

@Suite struct XeroConfigTests {
    @Test func defaults() throws {
        let xero = try ConfigLoader.load(path: nil, environment: [:]).xero
        #expect(xero.apiBaseURL == "https://api.xero.com")
        #expect(xero.identityBaseURL == "https://identity.xero.com")
        #expect(xero.loginBaseURL == "https://login.xero.com")
        #expect(xero.auth.mode == .none)
        #expect(xero.auth.scopes == "offline_access accounting.invoices.read accounting.payments.read accounting.contacts.read")
        #expect(xero.auth.redirectURI == "http://localhost:5080/callback")
        #expect(xero.limits == RateLimits(concurrentPerTenant: 5, perMinutePerTenant: 60, perDayPerTenant: 5000, perMinuteApp: 10_000))
        #expect(xero.requestTimeoutMilliseconds == 30_000)
        #expect(try XeroSettings().makeClient(stateDirectory: "/nonexistent", environment: [:]) == nil)
    }

    @Test func valuesAreApplied() throws {
        let xero = try loadConfig(#"""
        {"xero": {"apiBaseURL": "http://127.0.0.1:9000/", "identityBaseURL": "http://127.0.0.1:9001",
                  "requestTimeoutMilliseconds": 5000,
                  "auth": {"mode": "command", "command": ["/usr/bin/get-token", "--org", "x"], "scopes": "offline_access",
                           "redirectURI": "http://127.0.0.1:5999/cb", "//": "comment"},
                  "limits": {"concurrentPerTenant": 2, "perMinutePerTenant": 30, "perDayPerTenant": 1000, "perMinuteApp": 500}}}
        """#).xero
        #expect(xero.apiBaseURL == "http://127.0.0.1:9000")
        #expect(xero.apiConfiguration.accountingBase == "http://127.0.0.1:9000/api.xro/2.0")
        #expect(xero.apiConfiguration.tokenEndpoint == "http://127.0.0.1:9001/connect/token")
        #expect(xero.apiConfiguration.requestTimeout == .milliseconds(5000))
        #expect(xero.auth.mode == .command)
        #expect(xero.auth.command == ["/usr/bin/get-token", "--org", "x"])
        #expect(xero.auth.redirectURI == "http://127.0.0.1:5999/cb")
        #expect(xero.limits == RateLimits(concurrentPerTenant: 2, perMinutePerTenant: 30, perDayPerTenant: 1000, perMinuteApp: 500))
    }

    @Test(arguments: [
        (#"{"xero": {"auth": {"mode": "x"}}}"#,
         #"config: xero.auth.mode: "x" is not one of none, accessToken, refreshToken, clientCredentials, command"#),
        (#"{"xero": {"limits": {"concurrentPerTenant": 6}}}"#, "config: xero.limits.concurrentPerTenant: 6 is out of range (1-5)"),
        (#"{"xero": {"limits": {"perMinutePerTenant": 61}}}"#, "config: xero.limits.perMinutePerTenant: 61 is out of range (1-60)"),
        (#"{"xero": {"limits": {"perMinuteApp": 0}}}"#, "config: xero.limits.perMinuteApp: 0 is out of range (1-10000)"),
        (#"{"xero": {"apiBaseURL": "ftp://x"}}"#, #"config: xero.apiBaseURL: "ftp://x" is not an http(s) URL without query or user info"#),
        (#"{"xero": {"auth": {"command": "get-token"}}}"#, "config: xero.auth.command: must be an array of strings"),
        (#"{"xero": {"auth": {"command": []}}}"#, "config: xero.auth.command: must name a program (a non-empty array of strings)"),
        (#"{"xero": {"auth": {"mode": "command"}}}"#, "config: xero.auth.command: is required when xero.auth.mode is command"),
        (#"{"xero": {"auth": {"redirectURI": "localhost:5080"}}}"#,
         #"config: xero.auth.redirectURI: "localhost:5080" is not an http URL with a host and port"#),
        (#"{"xero": {"auth": {"clientSecret": "x"}}}"#,
         "config: xero.auth.clientSecret: unknown key (known here: accessTokenFile, clientIdFile, clientSecretFile, command, mode, passEnvironment, redirectURI, scopes)"),
        (#"{"xero": {"requestTimeoutMilliseconds": 10}}"#, "config: xero.requestTimeoutMilliseconds: 10 is out of range (1000-600000)"),
        (#"{"xero": []}"#, "config: xero: must be a JSON object"),
        (#"{"xero": {"limit": {}}}"#,
         "config: xero.limit: unknown key (known here: apiBaseURL, auth, identityBaseURL, limits, loginBaseURL, requestTimeoutMilliseconds)"),
    ])
    func badXeroConfigNamesTheKeyPath(_ json: String, _ message: String) {
        do {
            _ = try loadConfig(json)
            Issue.record("expected \(message)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func secretsFromTheEnvironmentOverrideCredentialsAndFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("creds"), withIntermediateDirectories: true)
        try writeFile(dir.file("id"), "file-id\n")
        try writeFile(dir.file("secret"), "file-secret\n")
        try writeFile(dir.file("creds/xero-client-id"), "cred-id\n")
        var settings = XeroSettings()
        settings.auth.mode = .refreshToken
        settings.auth.clientIdFile = dir.file("id")
        settings.auth.clientSecretFile = dir.file("secret")

        let fromFiles = try XeroSecrets.load(settings, environment: [:])
        #expect(fromFiles.client == ClientCredentials(id: "file-id", secret: "file-secret"))
        let fromCredential = try XeroSecrets.load(settings, environment: ["CREDENTIALS_DIRECTORY": dir.file("creds")])
        #expect(fromCredential.client == ClientCredentials(id: "cred-id", secret: "file-secret"))
        #expect(fromCredential.clientIdSource == "systemd credential xero-client-id")
        let fromEnvironment = try XeroSecrets.load(settings, environment: [
            "CREDENTIALS_DIRECTORY": dir.file("creds"), "PAN_SEC_XERO_CLIENT_ID": "env-id", "PAN_SEC_XERO_CLIENT_SECRET": "env-secret",
        ])
        #expect(fromEnvironment.client == ClientCredentials(id: "env-id", secret: "env-secret"))
        #expect(fromEnvironment.clientSecretSource == "environment PAN_SEC_XERO_CLIENT_SECRET")

        settings.auth.clientIdFile = nil
        #expect(throws: ConfigError.self) { try XeroSecrets.load(settings, environment: [:]) }
    }

    @Test func accessTokenFromTheEnvironmentWithExpiryAndScope() throws {
        var settings = XeroSettings()
        settings.auth.mode = .accessToken
        settings.auth.accessTokenFile = "/nonexistent/token"
        let secrets = try XeroSecrets.load(settings, environment: [
            "PAN_SEC_XERO_ACCESS_TOKEN": "env-token", "PAN_SEC_XERO_EXPIRES_IN": "1800", "PAN_SEC_XERO_SCOPE": "a b",
        ])
        guard case let .value(token, expiresIn, scope, _) = secrets.accessToken else { throw Failure("expected the env token") }
        #expect(token == "env-token" && expiresIn == 1800 && scope == "a b")
        let fileOnly = try XeroSecrets.load(settings, environment: [:])
        guard case .file("/nonexistent/token", _) = fileOnly.accessToken else { throw Failure("expected the file") }
        do {
            _ = try XeroSecrets.load(settings, environment: ["PAN_SEC_XERO_ACCESS_TOKEN": "t", "PAN_SEC_XERO_EXPIRES_IN": "soon"])
            Issue.record("a bad PAN_SEC_XERO_EXPIRES_IN must be refused")
        } catch {
            #expect(error.description == #"config: PAN_SEC_XERO_EXPIRES_IN: "soon" is not a whole number of seconds"#)
        }
        settings.auth.accessTokenFile = nil
        #expect(throws: ConfigError.self) { try XeroSecrets.load(settings, environment: [:]) }
    }

    @Test func checkConfigLinesMaskEverySecret() throws {
        var settings = XeroSettings()
        settings.auth.mode = .accessToken
        settings.auth.command = ["/usr/bin/vault", "read", "TOPSECRET-ARG"]
        let environment = ["PAN_SEC_XERO_ACCESS_TOKEN": "TOPSECRET-TOKEN", "PAN_SEC_XERO_CLIENT_ID": "TOPSECRET-ID",
                           "PAN_SEC_XERO_CLIENT_SECRET": "TOPSECRET-SECRET"]
        let lines = settings.describe(secrets: try XeroSecrets.load(settings, environment: environment), stateDirectory: "/var/lib/x")
        let text = lines.joined(separator: "\n")
        #expect(!text.contains("TOPSECRET"))
        #expect(lines.contains("xero.auth.clientId: set (masked) from environment PAN_SEC_XERO_CLIENT_ID"))
        #expect(lines.contains("xero.auth.clientSecret: set (masked) from environment PAN_SEC_XERO_CLIENT_SECRET"))
        #expect(lines.contains("xero.auth.accessToken: set (masked) from environment PAN_SEC_XERO_ACCESS_TOKEN"))
        #expect(lines.contains("xero.auth.tokenFile: /var/lib/x/xero-token.json"))
        #expect(lines.contains("xero.limits.perMinutePerTenant: 60"))
    }
}
