import Dispatch
import HTTPServer
import OpenSSLSupport
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A real `HTTPServer` on a loopback address and a port picked by the kernel, with an echo
/// handler that records what reaches it.
///
/// Routes, by path:
/// - `/slow`: answered 100 ms later from a private queue, so a later request's answer is ready
///   first in time;
/// - `/hold`: not answered until the test calls `answerHeld()`;
/// - `/big`: answered at once with `LiveServer.bigBody` (16 MiB, more than socket buffers hold,
///   so the server must wait for the client to read);
/// - `/now`, `/now-big`: the echo or `bigBody`, answered with `sendNow` from another thread (as a
///   queue writer's completion answers);
/// - anything else: answered at once.
///
/// Every answer is 200 with `X-Method`, `X-Target` and `X-Peer` (the peer's host) and echoes the
/// request body, or the target when the body is empty (so HEAD and GET answers have a body).
/// State lives in a `Mutex`, so the handler may record from any server queue.
final class LiveServer: Sendable {
    let server: HTTPServer
    let address: SocketAddress
    private let recorder: Recorder

    var port: UInt16 { address.port }

    /// Starts a server on `host` port 0. Call `stop()` when done (a `defer` right after).
    init(limits: HTTPLimits = .init(), host: String = "127.0.0.1", groups: Int? = nil, tls: TLSContext? = nil) throws {
        let recorder = Recorder()
        let server = HTTPServer(limits: limits, groups: groups, tls: tls,
                                onEvent: { recorder.record($0) },
                                handler: { recorder.handle($0, $1) })
        self.recorder = recorder
        self.server = server
        self.address = try server.start(host: host, port: 0)
    }

    /// Closes every connection at once and stops listening.
    func stop() { server.shutdown(grace: .zero) }

    /// A new client connection whose reads give up after `timeout` seconds.
    func connect(timeout: Double = 10) throws -> RawHTTPClient {
        try RawHTTPClient(host: address.host, port: port, timeout: timeout)
    }

    /// Requests that reached the handler, in the order they arrived.
    var requests: [HTTPRequest] { recorder.state.withLock { $0.requests } }

    /// How many times the handler was called.
    var handlerCalls: Int { recorder.state.withLock { $0.requests.count } }

    /// Everything `onEvent` reported, in order.
    var events: [HTTPServerEvent] { recorder.state.withLock { $0.events } }

    /// How many `/hold` requests wait for `answerHeld()`.
    var heldCount: Int { recorder.state.withLock { $0.held.count } }

    /// Answers every held `/hold` request with its echo response.
    func answerHeld() {
        let held = recorder.state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
        for (request, responder) in held { responder.send(LiveServer.echo(request, peer: responder.peer)) }
    }

    /// The statuses of every `.rejected` event.
    var rejectedStatuses: [Int] {
        events.compactMap { if case let .rejected(status, _, _) = $0 { status } else { nil } }
    }

    /// The reasons of every `.tlsFailed` event.
    var tlsFailures: [String] {
        events.compactMap { if case let .tlsFailed(reason, _) = $0 { reason } else { nil } }
    }

    /// The phases of every `.timedOut` event.
    var timedOutPhases: [String] {
        events.compactMap { if case let .timedOut(phase, _) = $0 { phase } else { nil } }
    }

    static let bigBody: [UInt8] = {
        // Built by repeating one period: mapping 16 Mi indexes takes seconds in a debug build.
        let period = (0..<251).map { UInt8($0) }
        var body: [UInt8] = []
        body.reserveCapacity(16 << 20)
        while body.count < 16 << 20 { body.append(contentsOf: period.prefix((16 << 20) - body.count)) }
        return body
    }()

    static func echo(_ request: HTTPRequest, peer: SocketAddress?) -> HTTPResponse {
        HTTPResponse(
            status: 200,
            headers: [("X-Method", request.head.method), ("X-Target", request.head.target),
                      ("X-Peer", peer?.host ?? "")],
            body: request.body.isEmpty ? Array(request.head.target.utf8) : request.body)
    }

    final class Recorder: Sendable {
        struct State {
            var requests: [HTTPRequest] = []
            var events: [HTTPServerEvent] = []
            var held: [(HTTPRequest, HTTPResponder)] = []
        }

        let state = Mutex(State())
        /// Where `/slow` answers are sent from: never the connection's own queue.
        private let lateQueue = DispatchQueue(label: "live-server.late-answers")

        func record(_ event: HTTPServerEvent) {
            state.withLock { $0.events.append(event) }
        }

        func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
            state.withLock { $0.requests.append(request) }
            switch request.head.path {
            case "/slow":
                lateQueue.asyncAfter(deadline: .now() + .milliseconds(100)) {
                    responder.send(LiveServer.echo(request, peer: responder.peer))
                }
            case "/hold":
                state.withLock { $0.held.append((request, responder)) }
            case "/big":
                responder.send(HTTPResponse(status: 200, body: LiveServer.bigBody))
            case "/now":
                lateQueue.async { responder.sendNow(LiveServer.echo(request, peer: responder.peer)) }
            case "/now-big":
                lateQueue.async { responder.sendNow(HTTPResponse(status: 200, body: LiveServer.bigBody)) }
            default:
                responder.send(LiveServer.echo(request, peer: responder.peer))
            }
        }
    }
}

extension HTTPLimits {
    /// Small size limits so a rejection takes few bytes; timeouts stay at their defaults.
    static var small: HTTPLimits {
        var limits = HTTPLimits()
        limits.maxRequestLineBytes = 128
        limits.maxHeaderBytes = 256
        limits.maxHeaderCount = 8
        limits.maxBodyBytes = 64
        return limits
    }

    /// `small`, with every timeout at 300 ms.
    static var shortTimeouts: HTTPLimits {
        var limits = HTTPLimits.small
        limits.headTimeout = .milliseconds(300)
        limits.bodyIdleTimeout = .milliseconds(300)
        limits.keepAliveTimeout = .milliseconds(300)
        return limits
    }
}

/// Reads everything the server sends until it closes the connection, bypassing the client's
/// response framing (a HEAD answer announces a body that never comes). Throws on the client's
/// receive timeout.
func readUntilClosed(_ client: RawHTTPClient) throws -> [UInt8] {
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            received.append(contentsOf: chunk[0..<n])
        } else if n == 0 || errno == ECONNRESET {
            return received
        } else if errno != EINTR {
            throw ReadError(errno: errno)
        }
    }
}

/// Whether a TCP connection to `address` (IPv4) is refused.
///
/// Uses its own socket rather than `RawHTTPClient`: when `connect` fails, that client's
/// descriptor is closed in its initializer and again in its deinitializer, and the second close
/// can hit a descriptor another test running in parallel has just opened.
func connectionIsRefused(_ address: SocketAddress) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var peer = sockaddr_in()
    peer.sin_family = sa_family_t(AF_INET)
    peer.sin_port = address.port.bigEndian
    guard inet_pton(AF_INET, address.host, &peer.sin_addr) == 1 else { return false }
    let rc = withUnsafePointer(to: &peer) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return rc != 0 && errno == ECONNREFUSED
}

/// `recv` failed, or timed out (EAGAIN) before the server closed.
struct ReadError: Error, CustomStringConvertible {
    var errno: Int32
    var description: String { "recv: errno \(errno)" }
}

/// Waits up to `milliseconds` for the server to send something or close; true if it did.
func peerHasSpoken(_ client: RawHTTPClient, withinMilliseconds milliseconds: Int32) -> Bool {
    var descriptor = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, milliseconds) > 0
}
