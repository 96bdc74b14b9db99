import Dispatch
import Synchronization

/// Carries one value from the thread that produces it to one thread that blocks until it is
/// there: the bridge from a completion handler, a task or a helper thread back to a synchronous
/// caller.
///
/// `put` is called once; `take` (or a `take(before:)` that returns the value) once. The value
/// is set before the semaphore is signalled, so the taker always finds it.
package final class ResultSlot<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    private let filled = DispatchSemaphore(value: 0)

    package init() {}

    /// Stores `value` and wakes the taker. Never blocks.
    package func put(_ value: Value) {
        self.value.withLock { $0 = value }
        filled.signal()
    }

    /// Blocks the calling thread until `put` has been called, then returns the value.
    package func take() -> Value {
        filled.wait()
        return value.withLock { $0! }  // set before the signal that ended the wait
    }

    /// Like `take()`, but gives up at `deadline` and returns nil; the value is still there for a
    /// later `take` then.
    package func take(before deadline: DispatchTime) -> Value? {
        guard filled.wait(timeout: deadline) == .success else { return nil }
        return value.withLock { $0! }  // set before the signal that ended the wait
    }
}
