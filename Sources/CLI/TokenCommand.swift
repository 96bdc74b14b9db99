import ArgumentParser
import DaemonConfig
import DaemonRuntime
import Foundation
import SystemSupport
import XeroAPI

/// `xero-webhookd token …`: inspect the Xero credentials.
package struct TokenCommand: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Inspect the Xero credentials.",
        subcommands: [TokenStatusCommand.self]
    )
}

/// `xero-webhookd token status`: mode, expiry, scopes and tenants; never a secret.
package struct TokenStatusCommand: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the credential mode, token expiry, scopes and connected tenants (never a secret)."
    )

    @OptionGroup package var state: StateOptions

    package func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = try state.settings(for: "token status", needsQueue: false, environment: environment)
        let secrets = try readingConfig { () throws(ConfigError) in try XeroSecrets.load(settings.xero, environment: environment) }
        let lines = runBlocking {
            await TokenStatusReport.lines(settings: settings.xero, secrets: secrets, stateDirectory: settings.stateDirectory,
                                          transport: URLSessionTransport())
        }
        writeOut(Array((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// The text of `token status`.
package enum TokenStatusReport {
    /// Builds the provider the daemon would use and reports its state. In refresh-token mode
    /// it never refreshes (that would rotate the token under a running daemon): tenants are
    /// listed only while the stored access token is valid.
    package static func lines(settings: XeroSettings, secrets: XeroSecrets, stateDirectory: String, transport: any HTTPTransport,
                      now: @escaping @Sendable () -> Date = Date.init) async -> [String] {
        var lines = ["mode: \(settings.auth.mode.rawValue)"]
        guard let provider = settings.makeTokenProvider(secrets: secrets, stateDirectory: stateDirectory, transport: transport, now: now) else {
            lines.append("fetching is not configured (xero.auth.mode is none)")
            return lines
        }
        let status = await provider.status()
        lines.append("source: \(status.source)")
        lines.append("state: \(describe(status.state))")
        if let expiresAt = status.expiresAt {
            let seconds = Timestamps.wholeSeconds(expiresAt.timeIntervalSince(now()))
            lines.append("expires: \(Timestamps.iso8601(expiresAt)) (\(seconds >= 0 ? "in \(seconds) s" : "\(seconds.magnitude) s ago"))")
        } else {
            lines.append("expires: unknown")
        }
        lines.append("scopes: \(status.scopes.isEmpty ? "unknown" : status.scopes.joined(separator: " "))")
        let usable: Bool = switch status.state {
        case .ready: true
        case .notObtained, .expired, .failing: settings.auth.mode != .refreshToken
        case .paused: false
        }
        guard usable else {
            lines.append("tenants: not listed (no usable access token; in refreshToken mode the daemon renews it on first use)")
            return lines
        }
        let configuration = settings.apiConfiguration
        switch await provider.token() {
        case let .ready(token):
            switch await XeroConnection.list(token: token, configuration: configuration, transport: transport) {
            case let .success(list):
                lines.append("tenants (\(list.count)):")
                lines += list.map { "  \($0.tenantId)  \($0.tenantType)  \($0.tenantName)" }
            case let .failure(error):
                lines.append("tenants: not listed: \(error)")
            }
        case let .paused(reason):
            lines.append("tenants: not listed: paused: \(reason)")
        case let .unavailable(reason, _):
            lines.append("tenants: not listed: \(reason)")
        }
        return lines
    }

    package static func describe(_ state: TokenStatus.State) -> String {
        switch state {
        case .ready: "ready"
        case .notObtained: "no token yet (obtained on first use)"
        case .expired: "expired (renewed on next use)"
        case let .paused(reason): "paused: \(reason)"
        case let .failing(reason): "failing: \(reason)"
        }
    }
}
