import Foundation
import SystemSupport

/// The `command` mode: runs a configured command (no shell) whose standard output is a JSON
/// token response (`access_token`, `expires_in`, optional `scope`). The command runs again when
/// the token is about to expire or Xero refuses it; runs are single-flight.
///
/// `expires_in` counts from when the command finished. A failing command (non-zero exit,
/// timeout, unreadable output) makes fetches retryable, with the first line of its standard
/// error in the reason. The command's environment is `environment` only (`ChildEnvironment`).
package actor CommandTokenProvider: TokenProvider {
    private let command: [String]
    private let timeout: Duration
    private let environment: ChildEnvironment
    private let now: @Sendable () -> Date
    private let margin: Duration
    private let spawnGate: CommandRunner.SpawnGate

    private var current: XeroToken?
    private var lastFailure: String?
    private let renewal = SingleFlight<TokenAvailability>()
    private var renewals = 0

    /// - Parameters:
    ///   - environment: the command's whole environment; by default the base variables of this
    ///     process's, none of its secrets.
    ///   - spawnGate: wraps the moment the child is spawned (tests serialise spawns with it);
    ///     the default just spawns.
    package init(command: [String], timeout: Duration,
                environment: ChildEnvironment = ChildEnvironment(from: ProcessInfo.processInfo.environment),
                margin: Duration = .seconds(60),
                now: @escaping @Sendable () -> Date = Date.init,
                spawnGate: @escaping CommandRunner.SpawnGate = { try $0() }) {
        self.command = command
        self.timeout = timeout
        self.environment = environment
        self.now = now
        self.margin = margin
        self.spawnGate = spawnGate
    }

    package func token() async -> TokenAvailability {
        if let current, current.isValid(at: now(), margin: margin) { return .ready(current) }
        return await renew()
    }

    package func tokenRejected(_ rejected: XeroToken) async -> TokenAvailability {
        if let current, current.accessToken != rejected.accessToken, current.isValid(at: now(), margin: margin) {
            return .ready(current)
        }
        return await renew()
    }

    package func reload() async {
        current = nil
    }

    package func status() async -> TokenStatus {
        let state: TokenStatus.State
        if let current, current.isValid(at: now(), margin: margin) {
            state = .ready
        } else if let lastFailure {
            state = .failing(lastFailure)
        } else {
            state = current == nil ? .notObtained : .expired
        }
        return TokenStatus(mode: "command", source: "command \(command.first ?? "")", state: state,
                           expiresAt: current?.expiresAt, scopes: current?.scopes ?? [], renewals: renewals)
    }

    private func renew() async -> TokenAvailability {
        await renewal.run { await self.performRenewal() }
    }

    private func performRenewal() async -> TokenAvailability {
        let name = command.first ?? ""
        switch await CommandRunner.run(command, timeout: timeout, environment: environment, spawnGate: spawnGate) {
        case let .failure(error):
            lastFailure = "the token command \(name) \(error)"
            return .unavailable(lastFailure!, retryAfter: nil)
        case let .success(output):
            guard let response = TokenResponse.parse(output) else {
                lastFailure = "the token command \(name) printed no JSON token response (access_token, expires_in)"
                return .unavailable(lastFailure!, retryAfter: nil)
            }
            let finished = now()
            let token = XeroToken(accessToken: response.accessToken,
                                  expiresAt: response.expiresAt.map { Date(timeIntervalSince1970: Double($0)) }
                                      ?? response.expiresIn.map { finished.addingTimeInterval(Double($0)) },
                                  scopes: response.scopes)
            guard token.isValid(at: finished) else {
                lastFailure = "the token command \(name) printed a token that has already expired"
                return .unavailable(lastFailure!, retryAfter: nil)
            }
            current = token
            renewals += 1
            lastFailure = nil
            return .ready(token)
        }
    }
}
