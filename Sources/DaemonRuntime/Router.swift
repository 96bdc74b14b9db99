import ByteJSON
import DaemonConfig
import DiskQueue
import HTTPServer
import XeroWebhooks

/// Sends each request to its endpoint: the webhook path to the receiver, `/healthz` to the
/// health answer, anything else 404.
package struct Router: Sendable {
    package let webhookPath: String
    package let receiver: WebhookReceiver
    package let queue: DiskQueue
    package let metrics: Metrics
    /// Why the daemon is not ready (empty when ready), for `/readyz`.
    package let readiness: @Sendable () -> [String]
    /// Every pause the worker holds (credentials and tenants), named by `/readyz` either way.
    package let pauses: @Sendable () -> [String]
    /// The Prometheus text for `/metrics`.
    package let exposition: @Sendable () async -> String
    /// What this listener serves: the webhook path, the admin endpoints (`/metrics`,
    /// `/healthz`, `/readyz`), or both (no `admin.listen`). Anything else is 404.
    package var servesWebhook = true
    package var servesAdmin = true

    package func route(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let path = request.head.path
        guard path == webhookPath ? servesWebhook : servesAdmin else {
            CountingResponder(responder: responder, metrics: metrics).send(HTTPResponse(status: 404))
            return
        }
        if path == webhookPath {
            receiver.handle(request, responder)  // counted through the receiver's outcomes
            return
        }
        let counted = CountingResponder(responder: responder, metrics: metrics)
        switch path {
        case "/metrics":
            guard request.head.method == "GET" || request.head.method == "HEAD" else {
                counted.send(HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD")]))
                return
            }
            let exposition = self.exposition
            Task {
                let text = await exposition()
                counted.send(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                          body: Array(text.utf8)))
            }
        default:
            route(path, request, counted)
        }
    }

    private func route(_ path: String, _ request: HTTPRequest, _ responder: CountingResponder) {
        switch path {
        case "/healthz":
            guard request.head.method == "GET" || request.head.method == "HEAD" else {
                responder.send(HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD")]))
                return
            }
            responder.send(health())
        case "/readyz":
            guard request.head.method == "GET" || request.head.method == "HEAD" else {
                responder.send(HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD")]))
                return
            }
            let problems = readiness()
            let paused = pauses()
            func list(_ items: [String]) -> String {
                "[" + items.map { String(decoding: JSONText.quoted($0), as: UTF8.self) }.joined(separator: ",") + "]"
            }
            var body = problems.isEmpty ? #"{"status":"ready""# : #"{"status":"not ready","problems":"# + list(problems)
            if !paused.isEmpty { body += #","paused":"# + list(paused) }
            body += "}"
            responder.send(HTTPResponse(status: problems.isEmpty ? 200 : 503, headers: [("Content-Type", "application/json")],
                                        body: Array(body.utf8)))
        default:
            responder.send(HTTPResponse(status: 404))
        }
    }

    /// 200 while events can be acknowledged; 503 once the queue has failed (a write or sync
    /// error: the daemon must be restarted to recover from disk).
    private func health() -> HTTPResponse {
        let failed = queue.isFailed
        let body = failed ? #"{"status":"failing","queue":"failed"}"# : #"{"status":"ok","queue":"ok"}"#
        return HTTPResponse(status: failed ? 503 : 200, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }
}

/// Counts the status of every answer it passes on.
package struct CountingResponder: Sendable {
    package let responder: HTTPResponder
    package let metrics: Metrics

    package func send(_ response: HTTPResponse) {
        metrics.response(response.status)
        responder.send(response)
    }
}
