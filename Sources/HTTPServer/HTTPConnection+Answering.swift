import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Answers and the output side, deadlines and shutdown (see `HTTPConnection`).
extension HTTPConnection {
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
    func respond(_ response: HTTPResponse, generation: UInt64) {
        guard !closed, let answer = machine.answer(generation: generation, close: response.close) else { return }
        guard stage(response, answer) else { close(); return }
        flush()
    }

    /// Puts the answer on the output (through the transport, with TLS close_notify after a
    /// closing one) and gives back the budget its request held. False when the transport can no
    /// longer send.
    func stage(_ response: HTTPResponse, _ answer: ConnectionStateMachine.Answer) -> Bool {
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
    func sendFinal(_ response: HTTPResponse) {
        guard let generation = machine.refuse() else { return }
        suspendReading()
        respond(response, generation: generation)
    }

    func flush() {
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
    func waitForWritable(progressed: Bool) {
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

    func responseWritten() {
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

    func suspendReading() {
        guard let source = readSource, !readSuspended else { return }
        source.suspend()
        readSuspended = true
    }

    func resumeReading() {
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

    func sourceCancelled() {
        openSources -= 1
        guard openSources == 0 else { return }
        Glibc.close(fd)
        readSource = nil
        writeSource = nil
        context.ledger.release()
    }
}
