import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection: reads bytes into a `RequestParser`, hands complete requests to
/// the handler one at a time, writes responses in order and enforces the timeouts.
///
/// All mutable state is confined to `group.queue` (a serial queue), hence `@unchecked Sendable`.
/// The descriptor is owned here and closed only in the cancel handler of the last of its
/// dispatch sources.
final class HTTPConnection: @unchecked Sendable {
    enum Phase: String { case handshake = "tls handshake", keepAlive = "keep-alive", head, body, handler, write }

    let fd: Int32
    let peer: SocketAddress?
    let group: ConnectionGroup
    private let server: HTTPServer
    /// Present on a TLS listener: socket bytes are ciphertext, the parser sees plaintext.
    private let tls: TLSSession?
    private var handshaking: Bool
    private var parser: RequestParser
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var readSuspended = false
    /// Reading paused because the peer does not take what TLS itself has to send (answers to
    /// KeyUpdates and the like): resumed once that output is out.
    private var readPausedForOutput = false
    private var writeSuspended = true
    private var openSources = 0
    private var closed = false
    private var peerClosed = false
    private var draining = false

    /// Bumped for every request handed out; a late or repeated answer for an older one is ignored.
    private var generation: UInt64 = 0
    private var awaitingResponse = false
    private var requestKeepAlive = true
    private var requestIsHEAD = false
    private var requestIsHTTP10 = false

    private var output: [UInt8] = []
    private var outputOffset = 0
    /// After the pending output is flushed: false = keep reading, true = close.
    private var closeAfterFlush = false
    private var responseInFlight = false

    /// Monotonic nanoseconds at which `deadlinePassed` fires, and what it guards.
    private(set) var deadline: UInt64 = .max
    private var phase: Phase = .keepAlive
    private var headStarted: UInt64?

    /// Bytes this connection has taken from the server's input budget, and the body of the
    /// request whose answer is owed (it counts until the answer is out).
    private var budgetTaken = 0
    private var owedBody = 0
    /// Output TLS made on its own (answers to KeyUpdates and the like) and not yet sent, above
    /// which reading pauses: a peer that sends but never reads must not make the server buffer
    /// without bound. Answers are not counted (their own deadlines and limits apply).
    private static let tlsControlBacklogLimit = 64 * 1024
    private var tlsControlBacklog = 0
    /// Socket reads (of up to 64 KiB) per turn on the queue, and how long a turn may take.
    private static let readsPerTurn = 16
    private static let turnNanoseconds: UInt64 = 5_000_000
    private var turnScheduled = false
    /// When the connection, idle since its last answer (or its handshake), closes: kept so that
    /// TLS records carrying no request (a peer's KeyUpdate) do not extend it.
    private var idleDeadline: UInt64 = .max

    /// Bytes of a request already received: in the parser, or (TLS) in a record not yet complete.
    private var hasPartialInput: Bool {
        parser.hasPartialRequest || (!handshaking && tls?.hasBufferedInput == true)
    }

    init(fd: Int32, peer: SocketAddress?, group: ConnectionGroup, server: HTTPServer, tls: TLSSession? = nil) {
        self.fd = fd
        self.peer = peer
        self.group = group
        self.server = server
        self.tls = tls
        self.handshaking = tls != nil
        self.parser = RequestParser(limits: server.limits)
    }

    func start() {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: group.queue)
        // While a continued turn is queued, source events are left to it: each would otherwise
        // start a second chain of turns for this connection (the source is re-armed while data waits).
        source.setEventHandler { [unowned self] in if !self.turnScheduled { self.readable() } }
        source.setCancelHandler { [self] in self.sourceCancelled() }
        openSources += 1
        readSource = source
        if handshaking {
            // A handshake gets as long as a request head: a trickled ClientHello is a slowloris too.
            setDeadline(.handshake, after: server.limits.headTimeout)
        } else {
            // Until its first byte a new connection gets as long as a request head would: a silent
            // connection must not hold its slot for the whole keep-alive timeout.
            setDeadline(.keepAlive, after: min(server.limits.headTimeout, server.limits.keepAliveTimeout))
        }
        source.resume()
    }

    // MARK: Reading

    private func readable() {
        let scratch = group.scratch
        let turnStarted = DispatchTime.now().uptimeNanoseconds
        // Read until the socket would block. libdispatch on Linux delivers EPOLLHUP (an RST, or
        // both directions shut) as a final event and stops watching the descriptor, so bytes
        // that came with the RST, and the RST itself, must be read in this call: a single read
        // left such a connection open until its head or body deadline.
        var reads = 0
        while !closed && !readSuspended && !peerClosed {
            // Deadlines (this connection's and its neighbours') are checked as the work goes on,
            // and a peer that never stops sending does not keep this queue to itself: after 1 MiB
            // or 5 ms (TLS records can be costly per byte), the rest waits for a later block.
            let now = DispatchTime.now().uptimeNanoseconds
            group.expireDeadlinesIfDue(now: now)
            if closed || readSuspended { break }  // a deadline (maybe this connection's) just fired
            if reads == Self.readsPerTurn || now &- turnStarted > Self.turnNanoseconds {
                scheduleReadTurn()
                return
            }
            guard let room = readRoom(scratch.count) else { return }
            if room == 0 {
                suspendReading()  // resumed once the answer owed is out
                break
            }
            reads += 1
            let n = read(fd, scratch.baseAddress, room)
            if n > 0 {
                let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<n])
                if tls != nil {
                    guard receiveTLS(bytes) else { return }
                } else {
                    parser.append(bytes)
                }
                guard chargeBudget() else { return }
                // Input that arrives while an answer is owed or still being written waits for
                // `responseWritten`: a request must not be handled after an answer that closes.
                if !awaitingResponse && !responseInFlight { processInput() }
            } else if n == 0 {
                peerClosed = true
            } else {
                let error = Glibc.errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { break }
                close()
                return
            }
        }
        if peerClosed && !closed {
            // A half-finished request can never complete now (RFC 9112 §6.3: incomplete, not
            // processed); an answer still owed goes out and then the connection closes.
            if awaitingResponse || responseInFlight {
                suspendReading()
            } else {
                close()
            }
        }
    }

    /// How many bytes the next read may take, within this connection's allowance and what the
    /// server's input budget has left: 0 = stop reading until the answer owed is out; nil = the
    /// request being read needs more than the budget has, and the connection is answering 503
    /// and closing.
    ///
    /// While an answer is owed, pipelined input is read only up to the allowance: a client
    /// sending requests faster than it reads answers waits in its own socket buffers, not in
    /// this process.
    private func readRoom(_ wanted: Int) -> Int? {
        let allowance = server.limits.connectionInputAllowance
        let held = parser.heldBytes + owedBody
        if awaitingResponse || responseInFlight {
            return max(0, min(wanted, allowance - held))
        }
        let room = min(wanted, allowance + budgetTaken + server.inputBudget.available - held)
        guard room <= 0 else { return room }
        refuseOverBudget()
        return nil
    }

    /// After a read: takes from the server's budget exactly what this connection now holds beyond
    /// its allowance (taken after the read, not before, so the budget in use is what connections
    /// really hold). False when another connection took it meanwhile: this one answers 503.
    private func chargeBudget() -> Bool {
        let over = parser.heldBytes + owedBody - server.limits.connectionInputAllowance - budgetTaken
        guard over > 0 else { return true }
        let granted = server.inputBudget.take(upTo: over)
        budgetTaken += granted
        guard granted < over else { return true }
        refuseOverBudget()
        return false
    }

    private func refuseOverBudget() {
        server.report(.rejected(status: 503, reason: "request input over the memory budget (limits.requestMemoryBytes)", peer: peer))
        sendFinal(HTTPResponse(status: 503, headers: [("Retry-After", "1")], close: true))
    }

    /// Gives back budget this connection no longer needs (after requests were consumed or answered).
    private func settleBudget() {
        let needed = closed ? 0 : max(0, parser.heldBytes + owedBody - server.limits.connectionInputAllowance)
        guard budgetTaken > needed else { return }
        server.inputBudget.give(budgetTaken - needed)
        budgetTaken = needed
    }

    /// Continues reading in a later block on the queue, once however often it is asked for.
    private func scheduleReadTurn() {
        guard !turnScheduled else { return }
        turnScheduled = true
        group.queue.async { [self] in
            turnScheduled = false
            readable()
        }
    }

    /// Decrypts `ciphertext` into the parser and sends what TLS has to say (handshake messages,
    /// session tickets). False when the session failed and the connection is closing.
    private func receiveTLS(_ ciphertext: UnsafeRawBufferPointer) -> Bool {
        guard let tls else { return true }
        let result = tls.receive(ciphertext, scratch: group.plaintextScratch) { parser.append($0) }
        tlsControlBacklog += takeTLSOutput()
        if tlsControlBacklog > Self.tlsControlBacklogLimit {
            readPausedForOutput = true
            suspendReading()
        }
        switch result {
        case .needMore:
            break
        case .closed:
            peerClosed = true
        case let .failed(reason):
            server.report(.tlsFailed(reason: reason, peer: peer))
            sendPendingOnceAndClose()  // the alert, if the socket takes it at once
            return false
        }
        if handshaking && tls.handshakeComplete {
            handshaking = false
            // During a drain the first request still gets only the moment `drain` allows.
            setDeadline(.keepAlive, after: draining ? min(server.limits.headTimeout, .seconds(1)) : server.limits.keepAliveTimeout)
        }
        // While an answer is being written the write source sends these bytes after it.
        if !responseInFlight && outputOffset < output.count { flush() }
        return !closed
    }

    /// Closes a connection with no request in progress; over TLS with close_notify first, sent
    /// if the socket takes it at once (a client would otherwise see an unexpected EOF).
    private func closeIdle() {
        if let tls, !handshaking, !responseInFlight {
            tls.shutdown()
            takeTLSOutput()
            sendPendingOnceAndClose()
        } else {
            close()
        }
    }

    /// One non-blocking send of the pending output, then close: nothing waits for this peer.
    private func sendPendingOnceAndClose() {
        if outputOffset < output.count {
            _ = output[outputOffset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        }
        close()
    }

    /// Moves pending TLS output (records, handshake messages, alerts) onto the output buffer and
    /// returns how many bytes that was.
    @discardableResult
    private func takeTLSOutput() -> Int {
        guard let tls else { return 0 }
        if outputOffset == output.count {
            output.removeAll(keepingCapacity: true)
            outputOffset = 0
        }
        let before = output.count
        tls.takeOutput(into: &output)
        return output.count - before
    }

    /// Runs the parser over buffered input until it needs more bytes or hands out a request.
    private func processInput() {
        while !closed && !awaitingResponse {
            let event: RequestParser.Event?
            do {
                event = try parser.next()
            } catch {
                server.report(.rejected(status: error.status, reason: error.description, peer: peer))
                sendFinal(HTTPResponse(status: error.status, close: true))
                return
            }
            guard let event else { break }
            switch event {
            case let .head(head):
                if head.expectsContinue && !peerClosed {
                    enqueueOutput(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                    flush()
                }
            case let .request(request):
                generation += 1
                awaitingResponse = true
                requestKeepAlive = request.head.keepAlive
                requestIsHEAD = request.head.method == "HEAD"
                requestIsHTTP10 = request.head.version == .http1_0
                headStarted = nil
                phase = .handler
                deadline = .max
                owedBody = request.body.count
                settleBudget()
                server.handler(request, HTTPResponder(connection: self, generation: generation))
                return
            }
        }
        guard !closed, !awaitingResponse else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if parser.isReadingBody {
            // The idle gap between reads, and the whole request's deadline, whichever is first.
            if headStarted == nil { headStarted = now }
            phase = .body
            deadline = min(now &+ server.limits.bodyIdleTimeout.nanoseconds,
                           headStarted! &+ server.limits.requestTimeout.nanoseconds)
        } else if hasPartialInput {
            if headStarted == nil { headStarted = now }
            phase = .head
            deadline = headStarted! &+ server.limits.headTimeout.nanoseconds
        } else if phase == .head {
            // What looked like the start of a request was a TLS record with none in it: idle
            // again, until the moment it was idle until.
            headStarted = nil
            phase = .keepAlive
            deadline = idleDeadline
        }
        if !hasPartialInput && !parser.isReadingBody && draining && generation > 0 {
            // A connection that has not sent its first request keeps the moment `drain` gave it
            // (over TLS the read that ends the handshake carries no request yet).
            closeIdle()
        }
    }

    // MARK: Answering

    /// Called on the queue through `HTTPResponder.send`.
    func respond(_ response: HTTPResponse, generation: UInt64) {
        guard !closed, awaitingResponse, generation == self.generation else { return }
        awaitingResponse = false
        owedBody = 0
        settleBudget()
        let closing = response.close || !requestKeepAlive || draining || peerClosed
        // HTTP/1.0 clients assume a close unless told otherwise (RFC 9112 §9.3).
        enqueueOutput(response.serialized(date: server.date.now(), closing: closing,
                                          keepAliveHeader: !closing && requestIsHTTP10, omitBody: requestIsHEAD))
        if closing, let tls {
            tls.shutdown()  // close_notify after the answer: the client sees a clean end
            takeTLSOutput()
        }
        guard !closed else { return }
        closeAfterFlush = closing
        responseInFlight = true
        flush()
    }

    /// Answers outside the normal request flow (framing errors, timeouts) and closes.
    private func sendFinal(_ response: HTTPResponse) {
        generation += 1
        awaitingResponse = true
        requestKeepAlive = false
        requestIsHEAD = false
        suspendReading()
        respond(response, generation: generation)
    }

    private func enqueueOutput(_ bytes: [UInt8]) {
        if let tls {
            // Sealing only fails on a session that is not (or no longer) established.
            guard tls.seal(bytes) else { close(); return }
            takeTLSOutput()
            return
        }
        if outputOffset == output.count {
            output = bytes
            outputOffset = 0
        } else {
            output.append(contentsOf: bytes)
        }
    }

    private func flush() {
        guard !closed else { return }
        let start = outputOffset
        while outputOffset < output.count {
            let n = output.withUnsafeBytes { buffer in
                send(fd, buffer.baseAddress! + outputOffset, buffer.count - outputOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outputOffset += n
                continue
            }
            let error = Glibc.errno
            if n < 0 && error == EINTR { continue }
            if n < 0 && (error == EAGAIN || error == EWOULDBLOCK) {
                waitForWritable(progressed: outputOffset > start)
                return
            }
            close()  // EPIPE, ECONNRESET…: the peer is gone.
            return
        }
        output.removeAll(keepingCapacity: true)
        outputOffset = 0
        tlsControlBacklog = 0
        if let source = writeSource, !writeSuspended {
            source.suspend()
            writeSuspended = true
        }
        if responseInFlight {
            responseWritten()
        } else if readPausedForOutput && !awaitingResponse {
            readPausedForOutput = false
            resumeReading()
            // In a later block: this flush may run inside `readable` (through `receiveTLS`).
            scheduleReadTurn()
        }
    }

    /// Arms the write source. The write deadline guards answers only, and moves only when bytes
    /// went out: output TLS makes on its own (a peer's KeyUpdate) leaves the running deadline
    /// alone, so a peer cannot keep a connection open by making the server write to it.
    private func waitForWritable(progressed: Bool) {
        if writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: group.queue)
            source.setEventHandler { [unowned self] in self.flush() }
            source.setCancelHandler { [self] in self.sourceCancelled() }
            openSources += 1
            writeSource = source
        }
        if writeSuspended {
            writeSuspended = false
            writeSource!.resume()
        }
        if responseInFlight && (progressed || phase != .write) {
            setDeadline(.write, after: server.limits.bodyIdleTimeout)
        }
    }

    private func responseWritten() {
        responseInFlight = false
        readPausedForOutput = false
        if closeAfterFlush || peerClosed {
            close()
            return
        }
        setDeadline(.keepAlive, after: server.limits.keepAliveTimeout)
        let readingWasPaused = readSuspended
        resumeReading()
        processInput()  // a pipelined request may already be buffered
        // Reading may have paused in the middle of a final EPOLLHUP event, which does not come
        // again: finish reading now.
        if readingWasPaused && !closed && !awaitingResponse { readable() }
    }

    // MARK: Deadlines and shutdown

    private func setDeadline(_ phase: Phase, after duration: Duration) {
        self.phase = phase
        deadline = DispatchTime.now().uptimeNanoseconds &+ duration.nanoseconds
        if phase == .keepAlive { idleDeadline = deadline }
    }

    func deadlinePassed() {
        guard !closed else { return }
        switch phase {
        case .keepAlive:
            closeIdle()
        case .handler:
            close()
        case .write, .handshake:
            server.report(.timedOut(phase: phase.rawValue, peer: peer))
            close()
        case .head, .body:
            server.report(.timedOut(phase: phase.rawValue, peer: peer))
            deadline = .max
            sendFinal(HTTPResponse(status: 408, close: true))
        }
    }

    /// Finish the request in progress, if any, then close. A connection accepted just before the
    /// drain that has not sent anything yet gets a moment (at most a second) for its request, so
    /// a restart does not drop requests the client already has on the way.
    func drain() {
        draining = true
        // Bytes that arrived before the drain count: read them now rather than at the next event.
        if !readSuspended && !awaitingResponse && !responseInFlight { readable() }
        guard !closed else { return }
        guard !awaitingResponse && !responseInFlight && !hasPartialInput else { return }
        if generation == 0 {
            setDeadline(handshaking ? .handshake : .keepAlive, after: min(server.limits.headTimeout, .seconds(1)))
        } else {
            closeIdle()
        }
    }

    private func suspendReading() {
        guard let source = readSource, !readSuspended else { return }
        source.suspend()
        readSuspended = true
    }

    private func resumeReading() {
        guard let source = readSource, readSuspended else { return }
        readSuspended = false
        source.resume()
    }

    func close() {
        guard !closed else { return }
        closed = true
        deadline = .max
        parser = RequestParser(limits: server.limits)  // its buffers go now, not when the last source is cancelled
        owedBody = 0
        settleBudget()
        if let source = readSource {
            source.cancel()
            if readSuspended { readSuspended = false; source.resume() }
        }
        if let source = writeSource {
            source.cancel()
            if writeSuspended { writeSuspended = false; source.resume() }
        }
        group.remove(self)
    }

    private func sourceCancelled() {
        openSources -= 1
        guard openSources == 0 else { return }
        Glibc.close(fd)
        readSource = nil
        writeSource = nil
        server.connectionClosed()
    }
}

extension Duration {
    /// Whole nanoseconds, saturating (0 for negative durations).
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}
