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
/// its dispatch sources.
final class HTTPConnection: @unchecked Sendable {
    enum Phase: String { case handshake = "tls handshake", keepAlive = "keep-alive", head, body, handler, write }

    let fd: Int32
    let peer: SocketAddress?
    let group: ConnectionGroup
    private let context: ConnectionContext
    /// Held by every entry point on the queue (recursively: a read checks its neighbours'
    /// deadlines, its own among them) and by `answerDirectly`, which only tries it.
    private let lock = RecursiveLock()
    /// Plain TCP or TLS: socket bytes go through it to the parser, answers through it to the socket.
    private let transport: any ConnectionTransport
    private var machine: ConnectionStateMachine
    private var parser: RequestParser
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var readSuspended = false
    /// Reading paused because the peer does not take what TLS itself has to send (answers to
    /// KeyUpdates and the like): resumed once that output is out.
    private var readPausedForOutput = false
    private var writeSuspended = true
    private var openSources = 0

    private var output: [UInt8] = []
    private var outputOffset = 0

    /// Bytes this connection has taken from the server's input budget, and the body of the
    /// request whose answer is owed (it counts until the answer is out).
    private var budgetTaken = 0
    private var owedBody = 0
    /// Output the transport made on its own (TLS answers to KeyUpdates and the like) and not yet
    /// sent, above which reading pauses: a peer that sends but never reads must not make the
    /// server buffer without bound. Answers are not counted (their own deadlines and limits apply).
    private static let controlBacklogLimit = 64 * 1024
    private var controlBacklog = 0
    /// Socket reads (of up to 64 KiB) per turn on the queue, and how long a turn may take.
    private static let readsPerTurn = 16
    private static let turnNanoseconds: UInt64 = 5_000_000
    private var turnScheduled = false
    /// Torn down (sources cancelled, budget returned).
    private var closed: Bool { machine.isClosed }

    /// Bytes of a request already received: in the parser, or (TLS) in a record not yet complete.
    private var hasPartialInput: Bool {
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

    private func readable() {
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
    private func readRoom(_ wanted: Int) -> Int? {
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
    private func chargeBudget() -> Bool {
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

    private func refuseOverBudget() {
        context.report(.rejected(status: 503, reason: "request input over the memory budget (limits.requestMemoryBytes)", peer: peer))
        sendFinal(HTTPResponse(status: 503, headers: [("Retry-After", "1")], close: true))
    }

    /// Gives back budget this connection no longer needs (after requests were consumed or answered).
    private func settleBudget() {
        let needed = closed ? 0 : max(0, parser.heldBytes + owedBody - context.limits.connectionInputAllowance)
        guard budgetTaken > needed else { return }
        context.inputBudget.give(budgetTaken - needed)
        budgetTaken = needed
    }

    /// Continues reading in a later block on the queue, once however often it is asked for.
    private func scheduleReadTurn() {
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
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
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
    private func closeIdle() {
        if !machine.isHandshaking, !machine.isWriting {
            compactOutput()
            transport.finish(output: &output)
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

    /// Starts the output buffer afresh once everything in it was sent.
    private func compactOutput() {
        if outputOffset == output.count {
            output.removeAll(keepingCapacity: true)
            outputOffset = 0
        }
    }

    /// Runs the parser over buffered input until it needs more bytes or hands out a request.
    private func processInput() {
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
    private func perform(_ action: ConnectionStateMachine.Action) {
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

    // MARK: Answering

    /// On the queue: the answer `HTTPResponder.send` handed over.
    func deliver(_ response: HTTPResponse, generation: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        respond(response, generation: generation)
    }

    /// From another thread (a queue writer's completion): writes the answer there and then when
    /// the connection is waiting for just that and nothing else is in progress: no input
    /// buffered, no output pending, reading not paused, and the connection stays open after it.
    /// What the socket does not take at once is finished on the queue. False when the
    /// connection is busy on its queue or the answer needs the queue (closing, pipelined input):
    /// the caller then hands it over there.
    func answerDirectly(_ response: HTTPResponse, generation: UInt64) -> Bool {
        guard lock.tryLock() else { return false }
        defer { lock.unlock() }
        guard !closed, transport.isEstablished, outputOffset == output.count, !readSuspended, !readPausedForOutput,
              !turnScheduled, parser.heldBytes == 0, !hasPartialInput,
              let answer = machine.answer(generation: generation, close: response.close, unlessClosing: true) else {
            return false
        }
        context.ledger.directAnswers.add(1, ordering: .relaxed)
        // An established transport always takes an answer (TLS seals it); closing happens on the queue.
        guard stage(response, answer) else {
            group.queue.async { [self] in close() }
            return true
        }
        let n = output.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        if n == output.count {
            output.removeAll(keepingCapacity: true)
            outputOffset = 0
            // The connection waits for its next request; with nothing buffered and reading on,
            // there is nothing to resume.
            _ = machine.answerWritten(now: DispatchTime.now().uptimeNanoseconds)
        } else {
            // The rest (or an error) is the queue's: closing and waiting for the socket happen there.
            if n > 0 { outputOffset = n }
            group.queue.async { [self] in
                lock.lock()
                defer { lock.unlock() }
                flush()
            }
        }
        return true
    }

    /// Called on the queue, with `lock` held.
    private func respond(_ response: HTTPResponse, generation: UInt64) {
        guard !closed, let answer = machine.answer(generation: generation, close: response.close) else { return }
        guard stage(response, answer) else { close(); return }
        flush()
    }

    /// Puts the answer on the output (through the transport, with TLS close_notify after a
    /// closing one) and gives back the budget its request held. False when the transport can no
    /// longer send.
    private func stage(_ response: HTTPResponse, _ answer: ConnectionStateMachine.Answer) -> Bool {
        owedBody = 0
        if answer.close {
            // Nothing after this answer is read: what is buffered goes, and its budget comes
            // back now, not when the answer is out (a refused client that does not read would
            // otherwise hold it for the write timeout).
            parser = RequestParser(limits: context.limits)
        }
        settleBudget()
        compactOutput()
        // HTTP/1.0 clients assume a close unless told otherwise (RFC 9112 §9.3).
        let bytes = response.serialized(date: context.date.now(), closing: answer.close,
                                        keepAliveHeader: answer.keepAliveHeader, omitBody: answer.omitBody)
        guard transport.send(bytes, output: &output) else { return false }
        if answer.close { transport.finish(output: &output) }
        return true
    }

    /// Answers outside the normal request flow (framing errors, timeouts, the memory budget)
    /// and closes.
    private func sendFinal(_ response: HTTPResponse) {
        guard let generation = machine.refuse() else { return }
        suspendReading()
        respond(response, generation: generation)
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
        controlBacklog = 0
        if let source = writeSource, !writeSuspended {
            source.suspend()
            writeSuspended = true
        }
        if machine.isWriting {
            responseWritten()
        } else if readPausedForOutput && !machine.isAwaitingAnswer {
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
            // Under the lock like every entry point: a flush can finish an answer and hand the
            // next pipelined request to the handler, whose answer may then come through
            // `answerDirectly` on another thread.
            source.setEventHandler { [unowned self] in
                lock.lock()
                defer { lock.unlock() }
                flush()
            }
            source.setCancelHandler { [self] in
                lock.lock()
                defer { lock.unlock() }
                sourceCancelled()
            }
            openSources += 1
            writeSource = source
        }
        if writeSuspended {
            writeSuspended = false
            writeSource!.resume()
        }
        machine.writeBlocked(now: DispatchTime.now().uptimeNanoseconds, progressed: progressed)
    }

    private func responseWritten() {
        readPausedForOutput = false
        if let action = machine.answerWritten(now: DispatchTime.now().uptimeNanoseconds) { perform(action) }
    }

    // MARK: Deadlines and shutdown

    /// On the queue: runs the deadline if it is due.
    func expireIfDue(now: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        guard !closed, machine.deadline <= now else { return }
        for action in machine.deadlinePassed() { perform(action) }
    }

    /// Finish the request in progress, if any, then close. A connection accepted just before the
    /// drain that has not sent anything yet gets a moment (at most a second) for its request, so
    /// a restart does not drop requests the client already has on the way.
    func drain() {
        lock.lock()
        defer { lock.unlock() }
        machine.beginDraining()
        // Bytes that arrived before the drain count: read them now rather than at the next event.
        if !readSuspended && !machine.answerPending { readable() }
        guard !closed else { return }
        if let action = machine.drain(now: DispatchTime.now().uptimeNanoseconds, partial: hasPartialInput) { perform(action) }
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
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        machine.closed()
        parser = RequestParser(limits: context.limits)  // its buffers go now, not when the last source is cancelled
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
        context.ledger.release()
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
