import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One accepted TCP connection: reads bytes into a `RequestParser`, hands complete requests to
/// the handler one at a time, writes responses in order and enforces the timeouts. Which stage
/// it is in, and the deadline, are `ConnectionStateMachine`'s; this class does the I/O its
/// actions ask for.
///
/// All mutable state is touched on `group.queue` (a serial queue) with `lock` held, and by
/// `answerDirectly` on another thread only while it holds `lock` too, hence `@unchecked
/// Sendable`. The descriptor is owned here and closed only in the cancel handler of the last of
/// its dispatch sources. The output side, deadlines and shutdown are in
/// `HTTPConnection+Answering.swift`; members are internal so that both files reach them, and
/// nothing outside this type touches them.
final class HTTPConnection: @unchecked Sendable {
    enum Phase: String { case handshake = "tls handshake", keepAlive = "keep-alive", head, body, handler, write }

    let fd: Int32
    let peer: SocketAddress?
    let group: ConnectionGroup
    let context: ConnectionContext
    /// Held by every entry point on the queue (recursively: a read checks its neighbours'
    /// deadlines, its own among them) and by `answerDirectly`, which only tries it.
    let lock = RecursiveLock()
    /// Plain TCP or TLS: socket bytes go through it to the parser, answers through it to the socket.
    let transport: any ConnectionTransport
    var machine: ConnectionStateMachine
    var parser: RequestParser
    var readSource: DispatchSourceRead?
    var writeSource: DispatchSourceWrite?
    var readSuspended = false
    /// Reading paused because the peer does not take what TLS itself has to send (answers to
    /// KeyUpdates and the like): resumed once that output is out.
    var readPausedForOutput = false
    var writeSuspended = true
    var openSources = 0

    var output: [UInt8] = []
    var outputOffset = 0

    /// Bytes this connection has taken from the server's input budget, and the body of the
    /// request whose answer is owed (it counts until the answer is out).
    var budgetTaken = 0
    var owedBody = 0
    /// Output the transport made on its own (TLS answers to KeyUpdates and the like) and not yet
    /// sent, above which reading pauses: a peer that sends but never reads must not make the
    /// server buffer without bound. Answers are not counted (their own deadlines and limits apply).
    static let controlBacklogLimit = 64 * 1024
    var controlBacklog = 0
    /// Socket reads (of up to 64 KiB) per turn on the queue, and how long a turn may take.
    static let readsPerTurn = 16
    static let turnNanoseconds: UInt64 = 5_000_000
    var turnScheduled = false
    /// Torn down (sources cancelled, budget returned).
    var closed: Bool { machine.isClosed }

    /// Bytes of a request already received: in the parser, or (TLS) in a record not yet complete.
    var hasPartialInput: Bool {
        parser.hasPartialRequest || (!machine.isHandshaking && transport.hasBufferedInput)
    }

    init(fd: Int32, peer: SocketAddress?, group: ConnectionGroup, context: ConnectionContext, transport: any ConnectionTransport) {
        self.fd = fd
        self.peer = peer
        self.group = group
        self.context = context
        self.transport = transport
        self.machine = ConnectionStateMachine(handshake: !transport.isEstablished, now: DispatchTime.now().uptimeNanoseconds,
                                              timeouts: .init(context.limits))
        self.parser = RequestParser(limits: context.limits)
    }

    func start() {
        lock.lock()
        defer { lock.unlock() }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: group.queue)
        // While a continued turn is queued, source events are left to it: each would otherwise
        // start a second chain of turns for this connection (the source is re-armed while data waits).
        source.setEventHandler { [unowned self] in
            lock.lock()
            defer { lock.unlock() }
            if !turnScheduled { readable() }
        }
        source.setCancelHandler { [self] in
            lock.lock()
            defer { lock.unlock() }
            sourceCancelled()
        }
        openSources += 1
        readSource = source
        source.resume()
    }

    // MARK: Reading

    func readable() {
        let scratch = group.scratch
        let turnStarted = DispatchTime.now().uptimeNanoseconds
        // Read until the socket would block. libdispatch on Linux delivers EPOLLHUP (an RST, or
        // both directions shut) as a final event and stops watching the descriptor, so bytes
        // that came with the RST, and the RST itself, must be read in this call: a single read
        // left such a connection open until its head or body deadline.
        var reads = 0
        while !closed && !readSuspended && !machine.peerClosed {
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
                guard receive(UnsafeRawBufferPointer(rebasing: scratch[0..<n])) else { return }
                guard chargeBudget() else { return }
                // Input that arrives while an answer is owed or still being written waits for
                // `responseWritten`: a request must not be handled after an answer that closes.
                if !machine.answerPending { processInput() }
            } else if n == 0 {
                machine.peerFinished()  // carried out below, after the loop
            } else {
                let error = Glibc.errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { break }
                close()
                return
            }
        }
        if let action = machine.afterPeerClosed { perform(action) }
    }

    /// How many bytes the next read may take, within this connection's allowance and what the
    /// server's input budget has left: 0 = stop reading until the answer owed is out; nil = the
    /// request being read needs more than the budget has, and the connection is answering 503
    /// and closing.
    ///
    /// While an answer is owed, pipelined input is read only up to the allowance: a client
    /// sending requests faster than it reads answers waits in its own socket buffers, not in
    /// this process.
    func readRoom(_ wanted: Int) -> Int? {
        let allowance = context.limits.connectionInputAllowance
        let held = parser.heldBytes + owedBody
        if machine.answerPending {
            return max(0, min(wanted, allowance - held))
        }
        let room = min(wanted, allowance + budgetTaken + context.inputBudget.available - held)
        guard room <= 0 else { return room }
        refuseOverBudget()
        return nil
    }

    /// After a read: takes from the server's budget exactly what this connection now holds beyond
    /// its allowance (taken after the read, not before, so the budget in use is what connections
    /// really hold). False when another connection took it meanwhile: this one answers 503.
    func chargeBudget() -> Bool {
        let over = parser.heldBytes + owedBody - context.limits.connectionInputAllowance - budgetTaken
        guard over > 0 else { return true }
        let granted = context.inputBudget.take(upTo: over)
        budgetTaken += granted
        guard granted < over else { return true }
        // While an answer is owed these bytes are a later request's, and `readRoom` reads no
        // more until the answer is out: they are kept (over TLS a read can complete a buffered
        // record of up to 16 KiB) rather than refused with a 503 that would take the owed
        // answer's place.
        if machine.answerPending { return true }
        refuseOverBudget()
        return false
    }

    func refuseOverBudget() {
        context.report(.rejected(status: 503, reason: "request input over the memory budget (limits.requestMemoryBytes)", peer: peer))
        sendFinal(HTTPResponse(status: 503, headers: [("Retry-After", "1")], close: true))
    }

    /// Gives back budget this connection no longer needs (after requests were consumed or answered).
    func settleBudget() {
        let needed = closed ? 0 : max(0, parser.heldBytes + owedBody - context.limits.connectionInputAllowance)
        guard budgetTaken > needed else { return }
        context.inputBudget.give(budgetTaken - needed)
        budgetTaken = needed
    }

    /// Continues reading in a later block on the queue, once however often it is asked for.
    func scheduleReadTurn() {
        guard !turnScheduled else { return }
        turnScheduled = true
        group.queue.async { [self] in
            lock.lock()
            defer { lock.unlock() }
            turnScheduled = false
            readable()
        }
    }

    /// Passes socket bytes through the transport into the parser and sends what the transport
    /// has to say (TLS handshake messages, session tickets). False when the transport failed
    /// and the connection is closing.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        compactOutput()
        let before = output.count
        let result = transport.receive(bytes, output: &output) { parser.append($0) }
        if output.count > before {
            controlBacklog += output.count - before
            if controlBacklog > Self.controlBacklogLimit {
                readPausedForOutput = true
                suspendReading()
            }
        }
        switch result {
        case .more:
            break
        case .closed:
            machine.peerFinished()  // carried out by `readable` after its loop
        case let .failed(reason):
            context.report(.tlsFailed(reason: reason, peer: peer))
            sendPendingOnceAndClose()  // the alert, if the socket takes it at once
            return false
        }
        if machine.isHandshaking && transport.isEstablished {
            machine.handshakeCompleted(now: DispatchTime.now().uptimeNanoseconds)
        }
        // While an answer is being written the write source sends these bytes after it.
        if !machine.isWriting && outputOffset < output.count { flush() }
        return !closed
    }

    /// Closes a connection with no request in progress; over TLS with close_notify first, sent
    /// if the socket takes it at once (a client would otherwise see an unexpected EOF).
    func closeIdle() {
        if !machine.isHandshaking, !machine.isWriting {
            compactOutput()
            transport.finish(output: &output)
            sendPendingOnceAndClose()
        } else {
            close()
        }
    }

    /// One non-blocking send of the pending output, then close: nothing waits for this peer.
    func sendPendingOnceAndClose() {
        if outputOffset < output.count {
            _ = output[outputOffset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        }
        close()
    }

    /// Starts the output buffer afresh once everything in it was sent.
    func compactOutput() {
        if outputOffset == output.count {
            output.removeAll(keepingCapacity: true)
            outputOffset = 0
        }
    }

    /// Runs the parser over buffered input until it needs more bytes or hands out a request.
    func processInput() {
        while !closed && !machine.isAwaitingAnswer {
            let event: RequestParser.Event?
            do {
                event = try parser.next()
            } catch {
                context.report(.rejected(status: error.status, reason: error.description, peer: peer))
                sendFinal(HTTPResponse(status: error.status, close: true))
                return
            }
            guard let event else { break }
            switch event {
            case let .head(head):
                if head.expectsContinue, let action = machine.continueWanted() { perform(action) }
            case let .request(request):
                let generation = machine.requestReceived(keepAlive: request.head.keepAlive, isHEAD: request.head.method == "HEAD",
                                                         isHTTP10: request.head.version == .http1_0)
                owedBody = request.body.count
                settleBudget()
                context.handler(request, HTTPResponder(connection: self, generation: generation))
                return
            }
        }
        guard !closed, !machine.isAwaitingAnswer else { return }
        if let action = machine.waitingForInput(now: DispatchTime.now().uptimeNanoseconds, partial: hasPartialInput,
                                                readingBody: parser.isReadingBody) {
            perform(action)
        }
    }

    /// Carries out what the state machine asked for.
    func perform(_ action: ConnectionStateMachine.Action) {
        switch action {
        case .sendContinue:
            compactOutput()
            guard transport.send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), output: &output) else { close(); return }
            flush()
        case .pauseReading:
            suspendReading()
        case .resume:
            let readingWasPaused = readSuspended
            resumeReading()
            processInput()  // a pipelined request may already be buffered
            // Reading may have paused in the middle of a final EPOLLHUP event, which does not
            // come again: finish reading now.
            if readingWasPaused && !closed && !machine.isAwaitingAnswer { readable() }
        case .closeIdle:
            closeIdle()
        case .close:
            close()
        case let .reject(status):
            sendFinal(HTTPResponse(status: status, close: true))
        case let .reportTimeout(phase):
            context.report(.timedOut(phase: phase.rawValue, peer: peer))
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating (0 for negative durations).
    package var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}
