import Dispatch
import Synchronization

/// A serial queue and the connections driven on it, plus one timer that enforces their
/// deadlines. `connections` and `scratch` are touched only on `queue`, hence
/// `@unchecked Sendable`.
final class ConnectionGroup: @unchecked Sendable {
    let queue: DispatchQueue
    /// Read buffer shared by this group's connections (safe: the queue is serial).
    let scratch: UnsafeMutableRawBufferPointer
    /// Where TLS connections decrypt into (the ciphertext is still in `scratch`); one record's worth.
    let plaintextScratch: UnsafeMutableRawBufferPointer
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private let timer: DispatchSourceTimer
    private let tickNanoseconds: UInt64
    /// When deadlines are next due to be checked (by the timer, or by connection activity).
    private var nextCheck: UInt64 = 0
    /// Answers handed over from other threads, delivered by one block per burst instead of one
    /// block per answer (a group-commit batch completes many requests at once).
    private let answers = Mutex<(pending: [(HTTPConnection, HTTPResponse, UInt64)], scheduled: Bool)>(([], false))

    init(label: String, tickNanoseconds: UInt64) {
        queue = DispatchQueue(label: label)
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        plaintextScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        self.tickNanoseconds = tickNanoseconds
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .nanoseconds(Int(tickNanoseconds)),
                       repeating: .nanoseconds(Int(tickNanoseconds)),
                       leeway: .nanoseconds(Int(tickNanoseconds / 4)))
        timer.setEventHandler { [weak self] in self?.expireDeadlines() }
        timer.resume()
    }

    deinit {
        timer.cancel()
        scratch.deallocate()
        plaintextScratch.deallocate()
    }

    /// On `queue`: starts driving a new connection.
    func add(_ connection: HTTPConnection) {
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
    }

    /// From any thread: queues `response` for `connection` and makes sure a drain is scheduled.
    func deliver(_ response: HTTPResponse, to connection: HTTPConnection, generation: UInt64) {
        let schedule = answers.withLock { state -> Bool in
            state.pending.append((connection, response, generation))
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        if schedule { queue.async { self.deliverPending() } }
    }

    private func deliverPending() {
        let batch = answers.withLock { state -> [(HTTPConnection, HTTPResponse, UInt64)] in
            state.scheduled = false
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        for (connection, response, generation) in batch {
            connection.deliver(response, generation: generation)
        }
    }

    /// On `queue`: forgets a closed connection.
    func remove(_ connection: HTTPConnection) {
        connections[ObjectIdentifier(connection)] = nil
    }

    /// On `queue`: asks every connection to finish its current request and close.
    func drainAll() {
        for connection in Array(connections.values) { connection.drain() }
    }

    /// On `queue`: closes every connection now.
    func closeAll() {
        for connection in Array(connections.values) { connection.close() }
    }

    /// On `queue`: checks deadlines if a tick has passed since the last check. Connections call
    /// this as they work: while a socket keeps the queue busy (a peer streaming records),
    /// libdispatch delivered this queue's timer only seconds late, and a deadline must not wait
    /// for a quiet moment.
    func expireDeadlinesIfDue(now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        guard now >= nextCheck else { return }
        expireDeadlines()
    }

    private func expireDeadlines() {
        let now = DispatchTime.now().uptimeNanoseconds
        nextCheck = now &+ tickNanoseconds
        for connection in Array(connections.values) {
            connection.expireIfDue(now: now)
        }
    }
}
