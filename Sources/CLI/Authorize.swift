import ArgumentParser
import DaemonConfig
import DaemonRuntime
import Foundation
import SystemSupport
import XeroAPI
import XeroAuthorization

/// `xero-webhookd authorize`: the one-time authorization for `xero.auth.mode: refreshToken`.
package struct Authorize: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "Authorize the app with Xero once and store the refresh token in the state directory.",
        discussion: """
        Prints the URL to open in a browser, waits for Xero's redirect on xero.auth.redirectURI \
        (register that exact URI with the Xero app), exchanges the code, stores the token set in \
        <stateDirectory>/xero-token.json (mode 0600) and lists the connected organisations. No \
        browser is started: open the printed URL yourself.
        """
    )

    @Option(help: "Config file (JSON).")
    package var config: String?

    @Option(help: "Listen on HOST:PORT for the redirect instead of the redirect URI's host and port.")
    package var listen: String?

    @Option(help: "Seconds to wait for the redirect.")
    package var timeout: Int = 600

    package func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let settings: DaemonConfig
        let client: ClientCredentials
        var override: (host: String, port: UInt16)?
        do throws(ConfigError) {
            settings = try ConfigLoader.load(path: config, environment: environment)
            let secrets = try XeroSecrets.load(settings.xero, environment: environment)
            guard let credentials = secrets.client else {
                throw ConfigError("xero.auth", "authorize needs the client id and secret (\(XeroSecrets.clientIdVariable), "
                    + "\(XeroSecrets.clientSecretVariable), the credentials xero-client-id/xero-client-secret, or the files)")
            }
            client = credentials
            if let listen {
                let parsed = try ListenAddress.parse(listen, defaultHost: "127.0.0.1")
                override = (parsed.host, parsed.port)
            }
        } catch {
            throw configFailure(error)
        }
        if settings.xero.auth.mode != .refreshToken {
            printError("note: xero.auth.mode is \(settings.xero.auth.mode.rawValue); the stored refresh token is used only in refreshToken mode")
        }
        let flow = AuthorizationFlow(settings: settings.xero, client: client, stateDirectory: settings.stateDirectory, listen: override,
                                     notice: { writeOut(Array("\n\($0)\n".utf8)) })
        let url: String
        do {
            url = try flow.start()
        } catch {
            throw failure("authorize: \(error)")
        }
        writeOut(Array("Open this URL in a browser and allow access:\n\n\(url)\n\nWaiting for Xero's redirect to \(flow.redirectURI) …\n".utf8))
        let limit = Duration.seconds(timeout)
        let result = runBlocking { () -> Result<AuthorizationFlow.Outcome, AuthorizationFlow.Failure> in
            do throws(AuthorizationFlow.Failure) {
                return .success(try await flow.finish(timeout: limit))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case let .failure(reason):
            throw failure("authorize: \(reason)")
        case let .success(outcome):
            writeOut(Array(Self.report(outcome).joined(separator: "\n").appending("\n").utf8))
        }
    }

    /// The lines printed after a successful flow (no secret in them).
    package static func report(_ outcome: AuthorizationFlow.Outcome) -> [String] {
        var lines = ["Authorized. Token stored in \(outcome.tokenFile) (scopes: \(outcome.scopes.joined(separator: " ")))."]
        switch outcome.connections {
        case let .success(list):
            lines.append("Connected organisations (\(list.count)):")
            for connection in list {
                lines.append("  \(connection.tenantId)  \(connection.tenantType)  \(connection.tenantName)")
            }
        case let .failure(error):
            lines.append("The connected organisations could not be listed: \(error)")
        }
        return lines
    }
}
