import Dispatch

/// A serial queue and the connections driven on it, plus one timer that enforces their
/// deadlines. `connections` and `scratch` are touched only on `queue`, hence
/// `@unchecked Sendable`.
final class ConnectionGroup: @unchecked Sendable {
    let queue: DispatchQueue
    /// Read buffer shared by this group's connections (safe: the queue is serial).
    let scratch: UnsafeMutableRawBufferPointer
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private let timer: DispatchSourceTimer

    init(label: String, tickNanoseconds: UInt64) {
        queue = DispatchQueue(label: label)
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .nanoseconds(Int(tickNanoseconds)),
                       repeating: .nanoseconds(Int(tickNanoseconds)),
                       leeway: .nanoseconds(Int(tickNanoseconds / 4)))
        timer.setEventHandler { [unowned self] in self.expireDeadlines() }
        timer.resume()
    }

    deinit {
        timer.cancel()
        scratch.deallocate()
    }

    /// On `queue`: starts driving a new connection.
    func add(_ connection: HTTPConnection) {
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
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

    private func expireDeadlines() {
        let now = DispatchTime.now().uptimeNanoseconds
        for connection in Array(connections.values) where connection.deadline <= now {
            connection.deadlinePassed()
        }
    }
}
