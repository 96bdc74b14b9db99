/// The life of one HTTP/1.1 connection as a value: which stage it is in, what that stage owns
/// (when the request began, the answer owed), and the deadline that guards it. Transitions are
/// functions of the event and the time, returning what the connection must do; nothing here
/// touches a socket, a clock or a queue, so every path (timeouts, pipelining, 100-continue,
/// drain, TLS close) is tested transition by transition (`ConnectionStateMachineTests`).
///
/// `HTTPConnection` owns one, feeds it what its socket and parser saw, and carries out the
/// actions. `close` and `closeIdle` are carried out by the connection, which then reports
/// `closed()`: until then the stage is the one the connection was in.
struct ConnectionStateMachine: Equatable {
    /// The deadlines, in nanoseconds.
    struct Timeouts: Equatable {
        var head: UInt64
        var keepAlive: UInt64
        var bodyIdle: UInt64
        var request: UInt64

        init(head: UInt64, keepAlive: UInt64, bodyIdle: UInt64, request: UInt64) {
            self.head = head
            self.keepAlive = keepAlive
            self.bodyIdle = bodyIdle
            self.request = request
        }

        init(_ limits: HTTPLimits) {
            self.init(head: limits.headTimeout.nanoseconds, keepAlive: limits.keepAliveTimeout.nanoseconds,
                      bodyIdle: limits.bodyIdleTimeout.nanoseconds, request: limits.requestTimeout.nanoseconds)
        }
    }

    /// What the request being answered asked for, kept until its answer is written.
    struct Owed: Equatable {
        var generation: UInt64
        var keepAlive: Bool
        var isHEAD: Bool
        var isHTTP10: Bool
    }

    enum Stage: Equatable {
        /// TLS: the handshake is not complete.
        case handshaking
        /// Between requests (or before the first): no request byte buffered.
        case idle
        /// Part of a request head is buffered; `since` is when its first byte came.
        case head(since: UInt64)
        /// The head is complete, the body is being read.
        case body(since: UInt64)
        /// The request is with the handler; its answer is owed.
        case handler(Owed)
        /// The answer is being written; `blocked` once the socket stopped taking it (the write
        /// deadline runs from then, and moves whenever bytes go out).
        case writing(close: Bool, blocked: Bool)
        case closed
    }

    /// How an answer goes out.
    struct Answer: Equatable {
        /// The connection closes after it (Connection: close, and TLS close_notify after it).
        var close: Bool
        /// An HTTP/1.0 request kept alive: the answer says `Connection: keep-alive`.
        var keepAliveHeader: Bool
        /// A HEAD request: headers only.
        var omitBody: Bool
    }

    enum Action: Equatable {
        case sendContinue
        /// Stop reading the socket (resumed after the answer owed is out).
        case pauseReading
        /// Resume reading and parse what is buffered: a pipelined request may be waiting.
        case resume
        /// Close with nothing in progress: over TLS, close_notify first if the socket takes it.
        case closeIdle
        case close
        /// Answer the request in progress with this status and close (`refuse`, then `answer`).
        case reject(status: Int)
        /// Tell the server's event stream (logs, metrics) that this stage timed out.
        case reportTimeout(HTTPConnection.Phase)
    }

    private(set) var stage: Stage
    /// Bumped for every request handed out and every answer the connection makes itself; an
    /// answer for an older generation is ignored.
    private(set) var generation: UInt64 = 0
    private(set) var draining = false
    private(set) var peerClosed = false
    /// Monotonic nanoseconds at which `deadlinePassed` must be called.
    private(set) var deadline: UInt64 = .max
    /// When an idle connection closes: TLS records carrying no request do not extend it.
    private var idleDeadline: UInt64 = .max
    let timeouts: Timeouts

    init(handshake: Bool, now: UInt64, timeouts: Timeouts) {
        self.timeouts = timeouts
        if handshake {
            // A handshake gets as long as a request head: a trickled ClientHello is a slowloris too.
            stage = .handshaking
            deadline = now &+ timeouts.head
        } else {
            // Until its first byte a new connection gets as long as a request head would: a
            // silent connection must not hold its slot for the whole keep-alive timeout.
            stage = .idle
            setIdle(until: now &+ min(timeouts.head, timeouts.keepAlive))
        }
    }

    var isClosed: Bool { stage == .closed }
    var isHandshaking: Bool { stage == .handshaking }
    /// An answer is owed: input is not parsed until it is out.
    var isAwaitingAnswer: Bool { if case .handler = stage { true } else { false } }
    var isWriting: Bool { if case .writing = stage { true } else { false } }
    /// Input waits while an answer is owed or being written.
    var answerPending: Bool { isAwaitingAnswer || isWriting }
    var isReadingBody: Bool { if case .body = stage { true } else { false } }

    /// The phase named in logs and metrics when a deadline passes.
    var phase: HTTPConnection.Phase {
        switch stage {
        case .handshaking: .handshake
        case .idle, .closed: .keepAlive
        case .head: .head
        case .body: .body
        case .handler: .handler
        case let .writing(_, blocked): blocked ? .write : .handler
        }
    }

    private mutating func setIdle(until moment: UInt64) {
        stage = .idle
        deadline = moment
        idleDeadline = moment
    }

    // MARK: Input

    /// TLS finished its handshake: the connection waits for its first request.
    mutating func handshakeCompleted(now: UInt64) {
        guard stage == .handshaking else { return }
        // During a drain the first request still gets only the moment `drain` allows.
        setIdle(until: now &+ (draining ? min(timeouts.head, 1_000_000_000) : timeouts.keepAlive))
    }

    /// A head that asks for `100-continue` is complete.
    func continueWanted() -> Action? {
        peerClosed ? nil : .sendContinue
    }

    /// The parser produced a whole request: it goes to the handler under the generation returned.
    mutating func requestReceived(keepAlive: Bool, isHEAD: Bool, isHTTP10: Bool) -> UInt64 {
        generation += 1
        stage = .handler(Owed(generation: generation, keepAlive: keepAlive, isHEAD: isHEAD, isHTTP10: isHTTP10))
        deadline = .max
        return generation
    }

    /// The parser needs more bytes: `partial` when a request has begun (bytes in the parser or,
    /// over TLS, in an incomplete record), `readingBody` once its head is complete.
    mutating func waitingForInput(now: UInt64, partial: Bool, readingBody: Bool) -> Action? {
        switch stage {
        case .closed, .handler, .writing, .handshaking:
            return nil
        case .idle, .head, .body:
            break
        }
        if readingBody {
            let since: UInt64
            switch stage {
            case let .head(started), let .body(started): since = started
            default: since = now
            }
            stage = .body(since: since)
            // The idle gap between reads, and the whole request's deadline, whichever is first.
            deadline = min(now &+ timeouts.bodyIdle, since &+ timeouts.request)
        } else if partial {
            if case .idle = stage { stage = .head(since: now) }
            if case let .head(since) = stage { deadline = since &+ timeouts.head }
        } else if case .head = stage {
            // What looked like the start of a request was a TLS record with none in it: idle
            // again, until the moment it was idle until.
            stage = .idle
            deadline = idleDeadline
        }
        if !partial && !readingBody && draining && generation > 0 {
            return .closeIdle
        }
        return nil
    }

    /// The peer closed its side (the connection reads what came before the end first, then asks
    /// `afterPeerClosed`).
    mutating func peerFinished() {
        peerClosed = true
    }

    /// Once the peer closed: a half-finished request can never complete now (RFC 9112 §6.3:
    /// incomplete, not processed), so the connection closes; an answer still owed goes out
    /// first, with reading paused. Nil while the peer has not closed.
    var afterPeerClosed: Action? {
        guard peerClosed, stage != .closed else { return nil }
        return answerPending ? .pauseReading : .close
    }

    /// The request being read cannot be served (a framing error, over budget, timed out): the
    /// connection answers it itself, with reading paused, and closes. Follow with
    /// `answer(generation:close:)` for the generation returned. Nil when an answer is owed or
    /// being written: that request is past reading, and a refusal must not replace its answer.
    mutating func refuse() -> UInt64? {
        guard !answerPending, stage != .closed else { return nil }
        generation += 1
        stage = .handler(Owed(generation: generation, keepAlive: false, isHEAD: false, isHTTP10: false))
        deadline = .max
        return generation
    }

    // MARK: Output

    /// The handler (or the connection) answers generation `generation`; `close` when the answer
    /// itself asks to close. Nil, with nothing changed, when that answer is no longer wanted
    /// (late, repeated, closed), or when it would close the connection and `unlessClosing`.
    mutating func answer(generation: UInt64, close: Bool, unlessClosing: Bool = false) -> Answer? {
        guard case let .handler(owed) = stage, owed.generation == generation else { return nil }
        let closing = close || !owed.keepAlive || draining || peerClosed
        if closing && unlessClosing { return nil }
        stage = .writing(close: closing, blocked: false)
        return Answer(close: closing, keepAliveHeader: !closing && owed.isHTTP10, omitBody: owed.isHEAD)
    }

    /// The socket stopped taking the answer. The write deadline starts, and moves only when
    /// bytes went out (`progressed`): output TLS makes on its own leaves it alone, so a peer
    /// cannot keep a connection open by making the server write to it.
    mutating func writeBlocked(now: UInt64, progressed: Bool) {
        guard case let .writing(close, blocked) = stage, progressed || !blocked else { return }
        stage = .writing(close: close, blocked: true)
        deadline = now &+ timeouts.bodyIdle
    }

    /// The whole answer is out.
    mutating func answerWritten(now: UInt64) -> Action? {
        guard case let .writing(close, _) = stage else { return nil }
        if close || peerClosed { return .close }
        setIdle(until: now &+ timeouts.keepAlive)
        return .resume
    }

    // MARK: Time and shutdown

    /// The deadline passed (the caller checks `deadline <= now`).
    mutating func deadlinePassed() -> [Action] {
        switch stage {
        case .closed, .handler:
            return []  // a request with its handler has no deadline of its own (it is `.max`)
        case .idle:
            return [.closeIdle]
        case .handshaking, .writing:
            return [.reportTimeout(phase), .close]
        case .head, .body:
            // The request gets 408 and the connection closes after it.
            let phase = self.phase
            deadline = .max
            return [.reportTimeout(phase), .reject(status: 408)]
        }
    }

    /// From now on every answer closes the connection; `drain` then decides what happens to the
    /// connection as it is (the connection reads what had already arrived in between).
    mutating func beginDraining() {
        draining = true
    }

    /// Finish the request in progress, if any, then close. A connection that has not sent its
    /// first request gets a moment (at most a second) for it, so a restart does not drop
    /// requests already on the way. `partial`: request bytes are buffered.
    mutating func drain(now: UInt64, partial: Bool) -> Action? {
        beginDraining()
        guard stage != .closed, !answerPending, !partial, !isReadingBody else { return nil }
        if generation == 0 {
            let moment = now &+ min(timeouts.head, 1_000_000_000)
            if stage == .handshaking {
                deadline = moment
            } else {
                setIdle(until: moment)
            }
            return nil
        }
        return .closeIdle
    }

    /// The connection closed (an error, a reset, shutdown).
    mutating func closed() {
        stage = .closed
        deadline = .max
    }
}
