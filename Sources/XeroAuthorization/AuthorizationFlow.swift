import DaemonConfig
import Foundation
import HTTPServer
import Synchronization
import XeroAPI

/// The one-time OAuth 2.0 authorization-code flow for the refresh-token mode (xero-facts §7):
/// build the authorize URL, receive the browser's redirect on the redirect URI's host and port,
/// check `state`, exchange the code, store the token set durably, list the connected tenants.
package final class AuthorizationFlow: Sendable {
    /// What went wrong; each description says what to do.
    package enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case cannotListen(String)
        case timedOut
        case denied(String)
        case exchangeFailed(String)
        case noRefreshToken
        case cannotStore(String)
        /// Xero answered `invalid_scope` and there is nothing left to fall back to.
        case scopesRefused(String)

        package var description: String {
            switch self {
            case let .cannotListen(reason):
                "cannot listen for the redirect: \(reason) (for a redirect host other than localhost or a numeric "
                    + "address, pass --listen HOST:PORT)"
            case .timedOut: "no redirect arrived in time; run authorize again"
            case let .denied(reason): "Xero did not authorise the app: \(reason)"
            case let .exchangeFailed(reason): "the code could not be exchanged: \(reason)"
            case .noRefreshToken: "Xero issued no refresh token: the scopes must include offline_access"
            case let .cannotStore(reason): "the token could not be stored: \(reason)"
        case let .scopesRefused(scopes):
            "Xero refused the scopes \"\(scopes)\" (invalid_scope): set xero.auth.scopes to scopes the app may use, "
                + "granular for apps created from 2 March 2026 (\"\(XeroSettings.Auth.granularScopes)\"), broad for "
                + "older apps (\"\(XeroSettings.Auth.broadScopes)\")"
            }
        }
    }

    /// The outcome of a completed flow.
    package struct Outcome: Sendable {
        package var tokenFile: String
        package var scopes: [String]
        /// The connected tenants, or why they could not be listed.
        package var connections: Result<[XeroConnection], XeroAPIError>
    }

    private let settings: XeroSettings
    private let client: ClientCredentials
    private let store: TokenFile
    private let transport: any HTTPTransport
    private let listenHost: String
    private let listenPort: UInt16
    private let state: String
    private let server = Mutex<HTTPServer?>(nil)
    private let redirect = Mutex<String?>(nil)
    private let notice: @Sendable (String) -> Void
    /// The scopes asked for now, and those to ask for if Xero refuses them (once).
    private let scopes: Mutex<(current: String, fallback: String?)>
    private let waiter = Mutex<(result: Result<String, Failure>?, continuation: CheckedContinuation<Result<String, Failure>, Never>?)>((nil, nil))

    /// - Parameters:
    ///   - listen: where to listen instead of the redirect URI's host and port (a proxy in
    ///     front, or a name other than `localhost`).
    ///   - notice: told, in a sentence for the operator, when the flow changes course (Xero
    ///     refused the default granular scopes and the broad ones are asked for instead).
    package init(settings: XeroSettings, client: ClientCredentials, stateDirectory: String,
                transport: any HTTPTransport = URLSessionTransport(), listen: (host: String, port: UInt16)? = nil,
                notice: @escaping @Sendable (String) -> Void = { _ in }) {
        self.settings = settings
        self.notice = notice
        // Only the default falls back: scopes the operator chose are theirs to change.
        let isDefault = settings.auth.scopes == XeroSettings.Auth.granularScopes
        self.scopes = Mutex((settings.auth.scopes, isDefault ? XeroSettings.Auth.broadScopes : nil))
        self.client = client
        self.store = settings.tokenFile(stateDirectory: stateDirectory)
        self.transport = transport
        let components = URLComponents(string: settings.auth.redirectURI)
        let host = components?.host ?? "127.0.0.1"
        self.listenHost = listen?.host ?? (host == "localhost" ? "127.0.0.1" : host)
        self.listenPort = listen?.port ?? UInt16(components?.port ?? 80)
        var random = SystemRandomNumberGenerator()
        self.state = (0..<4).map { _ in String(random.next(), radix: 16).leftPadded16 }.joined()
    }

    /// Starts listening and returns the URL to open in a browser. With port 0 in the redirect
    /// URI, the bound port is put into the redirect URI (useful for tests only: Xero accepts only
    /// registered redirect URIs).
    package func start() throws(Failure) -> String {
        let server = HTTPServer { [self] request, responder in receive(request, responder) }
        let bound: SocketAddress
        do {
            bound = try server.start(host: listenHost, port: listenPort)
        } catch {
            throw .cannotListen("\(listenHost):\(listenPort): \(error)")
        }
        self.server.withLock { $0 = server }
        var redirectURI = settings.auth.redirectURI
        if listenPort == 0, var components = URLComponents(string: redirectURI) {
            components.port = Int(bound.port)
            redirectURI = components.string ?? redirectURI
        }
        redirect.withLock { $0 = redirectURI }
        return authorizeURL(scopes: scopes.withLock { $0.current })
    }

    /// The scopes asked for now (they change once if Xero refuses the default granular set).
    package var requestedScopes: String { scopes.withLock { $0.current } }

    private func authorizeURL(scopes: String) -> String {
        let query = [
            ("response_type", "code"), ("client_id", client.id), ("redirect_uri", redirectURI),
            ("scope", scopes), ("state", state),
        ].map { "\($0.0)=\(Self.encode($0.1))" }.joined(separator: "&")
        return settings.apiConfiguration.authorizeEndpoint + "?" + query
    }

    /// The redirect URI in use (after `start`).
    package var redirectURI: String { redirect.withLock { $0 ?? settings.auth.redirectURI } }

    /// Waits for the redirect, then exchanges the code, stores the token set and lists the tenants.
    package func finish(timeout: Duration) async throws(Failure) -> Outcome {
        defer { stop() }
        let code = try await waitForCode(timeout: timeout).get()
        let identity = IdentityClient(configuration: settings.apiConfiguration, transport: transport)
        let response: TokenResponse
        switch await identity.exchange(code: code, redirectURI: redirectURI, client: client) {
        case let .token(token): response = token
        case let .rejected(status, error, description):
            throw .exchangeFailed("\(error) (HTTP \(status))" + (description.map { ": \($0)" } ?? ""))
        case let .lost(reason): throw .exchangeFailed(reason)
        case let .unexpected(reason, _): throw .exchangeFailed(reason)
        }
        guard let set = StoredTokenSet(response, issuedAt: Date()) else { throw .noRefreshToken }
        do {
            try store.save(set)
        } catch {
            throw .cannotStore(error.description)
        }
        guard let token = set.token else { throw .exchangeFailed("the token endpoint answered without an access token") }
        let connections = await XeroConnection.list(token: token, configuration: settings.apiConfiguration, transport: transport)
        return Outcome(tokenFile: store.path, scopes: set.scopes, connections: connections)
    }

    /// Stops listening (also done by `finish`).
    package func stop() {
        let server = self.server.withLock { current -> HTTPServer? in
            defer { current = nil }
            return current
        }
        server?.shutdown(grace: .seconds(1))
    }

    // MARK: The redirect

    private func receive(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let expectedPath = URLComponents(string: redirectURI)?.path ?? "/"
        guard request.head.method == "GET", request.head.path == (expectedPath.isEmpty ? "/" : expectedPath) else {
            return responder.send(page(404, "Not the redirect address of xero-webhookd authorize."))
        }
        let query = URLComponents(string: request.head.target)?.queryItems ?? []
        func item(_ name: String) -> String? { query.first { $0.name == name }?.value }
        // A request without our state is not Xero's redirect for this run: refuse it and keep waiting.
        guard let returned = item("state"), returned == state else {
            return responder.send(page(400, "The state does not match this authorization; start again from the printed URL."))
        }
        if let error = item("error") {
            if error == "invalid_scope" {
                // Xero refuses scopes an app may not have (xero-facts §7.4): granular ones for an
                // app created before 2 March 2026. Ask once more with the broad set.
                let (refused, fallback) = scopes.withLock { current -> (String, String?) in
                    let refused = current.current
                    let fallback = current.fallback
                    if let fallback { current = (fallback, nil) }
                    return (refused, fallback)
                }
                guard let fallback else {
                    responder.send(page(200, "Xero refused the scopes \(refused). You can close this window."))
                    return deliver(.failure(.scopesRefused(refused)))
                }
                let url = authorizeURL(scopes: fallback)
                notice("Xero refused the granular scopes \"\(refused)\" (an app created before 2 March 2026 may use "
                    + "only the broad ones); asking for \"\(fallback)\" instead. If the browser does not go on by "
                    + "itself, open:\n\n\(url)\n")
                return responder.send(HTTPResponse(status: 303, headers: [(name: "Location", value: url),
                                                                          (name: "Content-Type", value: "text/plain; charset=utf-8")],
                                                   body: Array("Xero refused the granular scopes; continue at \(url)\n".utf8)))
            }
            responder.send(page(200, "Authorization failed: \(error). You can close this window."))
            return deliver(.failure(.denied(error + (item("error_description").map { ": \($0)" } ?? ""))))
        }
        guard let code = item("code"), !code.isEmpty else {
            return responder.send(page(400, "The redirect has no code."))
        }
        responder.send(page(200, "xero-webhookd is authorised. You can close this window."))
        deliver(.success(code))
    }

    private func page(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")], body: Array((text + "\n").utf8))
    }

    private func deliver(_ result: Result<String, Failure>) {
        let continuation = waiter.withLock { waiting -> CheckedContinuation<Result<String, Failure>, Never>? in
            guard waiting.result == nil else { return nil }
            waiting.result = result
            defer { waiting.continuation = nil }
            return waiting.continuation
        }
        continuation?.resume(returning: result)
    }

    private func waitForCode(timeout: Duration) async -> Result<String, Failure> {
        let timer = Task {
            try await Task.sleep(for: timeout)
            deliver(.failure(.timedOut))
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = waiter.withLock { waiting -> Result<String, Failure>? in
                if let result = waiting.result { return result }
                waiting.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private static func encode(_ text: String) -> String {
        // RFC 3986 unreserved characters stay; everything else is percent-encoded.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

private extension String {
    package var leftPadded16: String { count >= 16 ? self : String(repeating: "0", count: 16 - count) + self }
}
