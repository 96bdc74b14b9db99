import DaemonConfig
import DaemonRuntime
import Dispatch
import Synchronization

/// Runs async work from a synchronous command (`XeroWebhookdCommand` is not async) and waits
/// for it on the calling thread, which is never one of the concurrency pool's threads.
package func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let result = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await body()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }  // set before the signal above
}
