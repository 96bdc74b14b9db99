import Foundation
import Synchronization

/// Everything a connection needs from the server that accepted it, and nothing more: the
/// limits, the handler, the shared input budget and date, where events go, and how to say it
/// closed. One value, made by the server, shared by all its connections.
struct ConnectionContext: Sendable {
    let limits: HTTPLimits
    let handler: HTTPHandler
    let inputBudget: InputBudget
    let date: HTTPDate
    let report: @Sendable (HTTPServerEvent) -> Void
    let ledger: ConnectionLedger
}

/// How many connections are open, and whether more are admitted; the server waits on it at
/// shutdown. Thread-safe.
final class ConnectionLedger: @unchecked Sendable {
    private let lock = NSCondition()
    private var open = 0
    private var stopping = false
    /// Answers written by the thread that completed them (`HTTPResponder.sendNow`), for tests.
    let directAnswers = Atomic<Int>(0)

    /// Counts one more connection if fewer than `maximum` are open and the server is not stopping.
    func admit(maximum: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard open < maximum && !stopping else { return false }
        open += 1
        return true
    }

    /// A connection is gone (its descriptor closed).
    func release() {
        lock.lock()
        open -= 1
        lock.broadcast()
        lock.unlock()
    }

    /// No more connections are admitted.
    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return open
    }

    /// Waits until no connection is open or `deadline` passes; returns how many are still open.
    func waitUntilEmpty(before deadline: Date) -> Int {
        lock.lock()
        defer { lock.unlock() }
        while open > 0 && lock.wait(until: deadline) {}
        return open
    }
}

/// A recursive pthread mutex: a connection's entry points on its queue take it (some nest), and
/// another thread only tries it.
final class RecursiveLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }
}
