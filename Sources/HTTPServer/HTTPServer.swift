import Dispatch
import Foundation
import OpenSSLSupport
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server on non-blocking POSIX sockets driven by Dispatch sources.
///
/// One accept source runs on a private serial queue; accepted connections are spread over a
/// few serial `ConnectionGroup` queues (one per core). The server knows nothing of webhooks:
/// it parses (`RequestParser`), enforces `HTTPLimits`, calls the handler once per request and
/// writes answers in order. Its own mutable state is confined to `acceptQueue` or guarded by
/// `lock`, hence `@unchecked Sendable`.
package final class HTTPServer: @unchecked Sendable {
    package let limits: HTTPLimits
    /// When set, every accepted connection speaks TLS.
    package let tls: TLSContext?
    let handler: HTTPHandler
    private let onEvent: @Sendable (HTTPServerEvent) -> Void
    /// What all connections together may hold of request input beyond their own allowance.
    let inputBudget: InputBudget
    let date = HTTPDate()
    private let groups: [ConnectionGroup]
    private let acceptQueue = DispatchQueue(label: "xero-webhookd.http.accept")
    private var acceptSource: DispatchSourceRead?
    private var acceptSuspended = false
    /// Entered when accepting starts, left once the accept source's cancel handler has closed
    /// the listening socket.
    private let listenerClosed = DispatchGroup()
    private var nextGroup = 0

    private let ledger = ConnectionLedger()
    /// What every connection gets from this server.
    let context: ConnectionContext

    /// - Parameters:
    ///   - limits: size limits and timeouts for every connection.
    ///   - groups: how many serial queues drive connections (default: one per core, at least 2).
    ///   - tls: serve HTTPS with this context (nil: plain HTTP).
    ///   - onEvent: reports rejections, timeouts and accept trouble (called on server queues;
    ///     `.draining` on the thread that called `shutdown`).
    ///   - handler: called once per complete request.
    package init(limits: HTTPLimits = .init(), groups: Int? = nil, tls: TLSContext? = nil,
                onEvent: @escaping @Sendable (HTTPServerEvent) -> Void = { _ in },
                handler: @escaping HTTPHandler) {
        self.limits = limits
        self.tls = tls
        self.handler = handler
        self.onEvent = onEvent
        inputBudget = InputBudget(bytes: limits.requestMemoryBytes)
        context = ConnectionContext(limits: limits, handler: handler, inputBudget: inputBudget, date: date,
                                    report: onEvent, ledger: ledger)
        let shortest = min(limits.headTimeout, limits.bodyIdleTimeout, limits.keepAliveTimeout).nanoseconds
        let tick = min(max(shortest / 4, 5_000_000), 250_000_000)
        let count = groups ?? max(2, ProcessInfo.processInfo.activeProcessorCount)
        self.groups = (0..<count).map { ConnectionGroup(label: "xero-webhookd.http.\($0)", tickNanoseconds: tick) }
    }

    /// Binds `host:port` (port 0 picks a free one) and starts accepting. Returns the bound address.
    @discardableResult
    package func start(host: String, port: UInt16) throws(SystemCallError) -> SocketAddress {
        let (fd, address) = try Listener.open(host: host, port: port, backlog: 1024)
        startAccepting(fd)
        return address
    }

    /// Starts accepting on a socket that is already bound and listening (e.g. passed by systemd).
    /// The server takes ownership of `fd`.
    @discardableResult
    package func start(listeningSocket fd: Int32) throws(SystemCallError) -> SocketAddress {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw .last("fcntl(O_NONBLOCK)") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let address = try Listener.boundAddress(fd)
        startAccepting(fd)
        return address
    }

    /// Bytes of request input connections hold beyond their own allowances (for tests and metrics).
    package var requestMemoryInUse: Int { inputBudget.inUse }

    /// Connections currently open.
    package var connectionCount: Int { ledger.count }

    /// Answers written by the thread that completed them instead of the connection's queue.
    var directAnswerCount: Int { ledger.directAnswers.load(ordering: .relaxed) }

    /// Stops accepting, lets requests in progress finish (their handlers still answer), closes
    /// idle connections, and returns once every connection is closed or `grace` has passed (then
    /// the rest are closed). Safe to call more than once.
    package func shutdown(grace: Duration) {
        acceptQueue.sync {
            if let source = acceptSource {
                source.cancel()
                if acceptSuspended { acceptSuspended = false; source.resume() }
                acceptSource = nil
            }
        }
        ledger.stop()
        // The cancel handler closes the listening socket asynchronously; until it has, the
        // kernel still completes handshakes that nobody will accept.
        listenerClosed.wait()
        let deadline = Date().addingTimeInterval(Double(grace.nanoseconds) / 1e9)
        let told = DispatchGroup()
        for group in groups {
            told.enter()
            group.queue.async {
                group.drainAll()
                told.leave()
            }
        }
        // Within the grace period: a queue that is stuck must not stop the shutdown.
        _ = told.wait(timeout: .now() + .nanoseconds(Int(clamping: grace.nanoseconds)))
        onEvent(.draining(connections: connectionCount))
        guard ledger.waitUntilEmpty(before: deadline) > 0 else { return }
        for group in groups { group.queue.async { group.closeAll() } }
        _ = ledger.waitUntilEmpty(before: Date().addingTimeInterval(5))
    }

    /// True when every connection queue runs a trivial block within `timeout`: the server is not
    /// stuck (for a service watchdog).
    package func isResponsive(within timeout: Duration) -> Bool {
        let group = DispatchGroup()
        for connections in groups {
            group.enter()
            connections.queue.async { group.leave() }
        }
        return group.wait(timeout: .now() + .nanoseconds(Int(timeout.nanoseconds))) == .success
    }


    // MARK: Accepting

    private func startAccepting(_ fd: Int32) {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [unowned self] in self.acceptAll(fd) }
        listenerClosed.enter()
        source.setCancelHandler { [listenerClosed] in
            Glibc.close(fd)
            listenerClosed.leave()
        }
        acceptQueue.sync { acceptSource = source }
        source.resume()
    }

    private func acceptAll(_ listener: Int32) {
        // Read each time: the limit can be changed from outside (prlimit) while the server runs.
        var descriptorLimit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &descriptorLimit)
        let soft = descriptorLimit.rlim_cur == rlim_t.max ? Int.max : Int(clamping: descriptorLimit.rlim_cur)
        let highestAdmitted = soft - 1 - limits.descriptorReserve
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
            }
            if fd < 0 {
                let error = Glibc.errno
                switch error {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO: continue
                default:
                    // EMFILE/ENFILE/ENOBUFS/ENOMEM: the pending connection stays in the backlog and
                    // the source would fire again at once, so pause accepting briefly instead of spinning.
                    onEvent(.acceptFailed(SystemCallError(call: "accept", errno: error)))
                    pauseAccepting()
                    return
                }
            }
            let peer = SocketAddress(&storage)
            // Descriptors are numbered lowest first, so the number says how many are taken.
            guard Int(fd) <= highestAdmitted else {
                Glibc.close(fd)
                onEvent(.descriptorReserveReached(peer: peer, limit: soft))
                continue
            }
            // accept4 is not visible from Glibc's module map; set the flags right after accept.
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))

            guard ledger.admit(maximum: limits.maxConnections) else {
                onEvent(.connectionLimitReached(peer: peer))
                Glibc.close(fd)
                continue
            }
            let group = groups[nextGroup]
            let transport: any ConnectionTransport
            if let tls {
                guard let session = tls.makeSession() else {
                    onEvent(.tlsFailed(reason: "cannot allocate a TLS session", peer: peer))
                    Glibc.close(fd)
                    ledger.release()
                    continue
                }
                transport = TLSTransport(session: session, plaintext: group.plaintextScratch)
            } else {
                transport = PlainTransport.shared
            }
            nextGroup = (nextGroup + 1) % groups.count
            let connection = HTTPConnection(fd: fd, peer: peer, group: group, context: context, transport: transport)
            group.queue.async { group.add(connection) }
        }
    }

    private func pauseAccepting() {
        guard let source = acceptSource, !acceptSuspended else { return }
        source.suspend()
        acceptSuspended = true
        acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { [weak self] in
            guard let self, let source = self.acceptSource, self.acceptSuspended else { return }
            self.acceptSuspended = false
            source.resume()
        }
    }
}
