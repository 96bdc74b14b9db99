import Dispatch
import Foundation
import HTTPServer
import Synchronization

/// A test double of Xero's identity and API endpoints, obeying Xero's documented rules
/// (xero-facts §5–§7), on our own `HTTPServer` at `127.0.0.1`, port 0.
///
/// One instance serves both hosts: point `identityBaseURL` and `apiBaseURL` at `baseURL`.
/// - `POST /connect/token`: `refresh_token` (rotating, single use, with a grace window),
///   `authorization_code` (codes registered by the test), `client_credentials`; client
///   authentication by Basic header or form body; `{"error":"invalid_grant"}` with 400.
/// - `GET /identity/connect/authorize`: the user's consent, with Xero's scope rules.
/// - `GET /connections`.
/// - `GET /api.xro/2.0/{Invoices|Contacts}?IDs=a,b,c` and `/{Invoices|Contacts|CreditNotes}/{id}`
///   with Xero's response shapes; XML unless `Accept: application/json`; 404 for URLs over
///   `maxURLLength`; 400 for percent-encoded commas or an id that is not a GUID; archived
///   contacts left out of lists without `includeArchived=true`; 401 for unknown or expired
///   tokens; 403 for a tenant the token does not reach. Access tokens are JWTs with `exp`.
/// - `GET /appstore/2.0/subscriptions/{id}` with a `marketplace.billing` token.
/// - The rate limits with Xero's headers on every API answer, and 429 with `Retry-After` and
///   `X-Rate-Limit-Problem` (`minute`, `day`, `concurrent`, `appminute`).
///
/// All state is in a `Mutex`; the handler runs on the server's queues.
package final class FakeXero: Sendable {
    let state: Mutex<FakeXeroState>
    let now: @Sendable () -> Date
    let delayQueue = DispatchQueue(label: "fake-xero.delay")
    private let server = Mutex<HTTPServer?>(nil)
    private let address = Mutex<SocketAddress?>(nil)
    /// Called at the first API call made with an access token issued by a refresh or code
    /// grant, with the refresh token issued alongside it; returns whether the caller's
    /// precondition holds (e.g. "the token file already holds this refresh token").
    let firstUseCheck = Mutex<(@Sendable (String) -> Bool)?>(nil)

    /// - Parameter now: the fake's wall clock for token expiry (tests move it forward).
    package init(options: FakeXeroOptions = .init(), now: @escaping @Sendable () -> Date = Date.init) {
        state = Mutex(FakeXeroState(options: options))
        self.now = now
    }

    /// Starts listening on 127.0.0.1 at a free port and returns the base URL (`http://127.0.0.1:PORT`).
    @discardableResult
    package func start() throws -> String {
        var limits = HTTPLimits()
        limits.maxRequestLineBytes = 16 * 1024
        let server = HTTPServer(limits: limits) { [self] request, responder in
            handle(request, responder)
        }
        let bound = try server.start(host: "127.0.0.1", port: 0)
        self.server.withLock { $0 = server }
        address.withLock { $0 = bound }
        return baseURL
    }

    /// `http://127.0.0.1:PORT`.
    package var baseURL: String {
        address.withLock { "http://\($0?.description ?? "127.0.0.1:0")" }
    }

    /// Stops the server and closes every connection, including ones whose answer is held back.
    package func shutdown() {
        let server = self.server.withLock { current -> HTTPServer? in
            defer { current = nil }
            return current
        }
        server?.shutdown(grace: .zero)
    }

    /// A copy of the counters.
    package var stats: FakeXeroStats { state.withLock { $0.stats } }

    /// Installs the first-use check (see `firstUseCheck`).
    package func onFirstUseOfRefreshedToken(_ check: @escaping @Sendable (_ refreshTokenIssuedWithIt: String) -> Bool) {
        firstUseCheck.withLock { $0 = check }
    }

    // MARK: Routing

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let path = request.head.path
        let lower = path.lowercased()
        let method = request.head.method
        if method == "POST" && lower == "/connect/token" {
            count("token")
            handleToken(request, responder)
        } else if method == "GET" && lower == "/identity/connect/authorize" {
            handleAuthorize(request, responder)
        } else if method == "GET" && lower == "/connections" {
            count("connections")
            responder.send(connections(request))
        } else if method == "GET" && lower.hasPrefix("/api.xro/2.0/") {
            handleAccounting(request, responder)
        } else if method == "GET" && lower.hasPrefix("/appstore/2.0/subscriptions/") {
            handleSubscription(request, responder)
        } else {
            responder.send(Self.notFoundPage())
        }
    }

    func count(_ endpoint: String) {
        state.withLock { $0.stats.requestsByEndpoint[endpoint, default: 0] += 1 }
    }

    /// Sends `response` after `delay` (by default the configured `responseDelay`), running
    /// `after` just before.
    func send(_ response: HTTPResponse, to responder: HTTPResponder, delay: Duration? = nil, after: @escaping @Sendable () -> Void = {}) {
        let delay = delay ?? state.withLock { $0.options.responseDelay }
        if delay == .zero {
            after()
            responder.send(response)
        } else {
            let (seconds, attoseconds) = delay.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            delayQueue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
                after()
                responder.send(response)
            }
        }
    }

    static func jsonResponse(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [(name: "Content-Type", value: "application/json; charset=utf-8")] + headers,
                     body: Array(body.utf8))
    }

    /// Xero's problem-details body for 401/403 (`{"Type":null,"Title":…,"Status":…,"Detail":…}`).
    static func problem(_ status: Int, title: String, detail: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        jsonResponse(status, #"{"Type":null,"Title":"\#(title)","Status":\#(status),"Detail":\#(FakeXeroWire.quoted(detail)),"Instance":"\#(UUID().uuidString.lowercased())","Extensions":{}}"#,
                     headers: headers)
    }
}

/// A check's verdict: go on with a value, or stop and send this answer.
enum Gate<Value> {
    case pass(Value)
    case stop(HTTPResponse)
}
