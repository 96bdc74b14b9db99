/// Runs async work from synchronous code (a command's `run`, a signal handler's queue) and
/// blocks the calling thread until it returns.
///
/// The caller must not be a thread of the concurrency pool: it would hold one of the pool's few
/// threads while `body` needs one to run.
package func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let slot = ResultSlot<T>()
    Task { slot.put(await body()) }
    return slot.take()
}
