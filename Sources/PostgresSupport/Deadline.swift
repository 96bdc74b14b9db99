import Synchronization

/// Runs work against the database with a time limit that holds even when the work never ends.
///
/// A task group cannot do this: it waits for the cancelled child, and a query on a connection
/// the server killed may never resume (postgres-nio 1.33 leaves a transaction's next query
/// waiting for ever). Here the body runs in a task of its own; when the limit passes first,
/// the caller gets `TimedOut` at once and the body is cancelled and left to end when it can.
package enum Deadline {
    package struct TimedOut: Error, CustomStringConvertible {
        package let limit: Duration
        package var description: String { "no answer within \(limit)" }
    }

    package static func run<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Waiter<T>()
        let work = Task { try await body() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.waiting.withLock { $0 = continuation }
                let timer = Task {
                    try? await Task.sleep(for: limit)
                    // Cancelled: the body ended first and has resumed the caller.
                    guard !Task.isCancelled, let waiting = outcome.waiting.withLock({ $0.take() }) else { return }
                    work.cancel()
                    waiting.resume(throwing: TimedOut(limit: limit))
                }
                Task {
                    let result = await work.result
                    let waiting = outcome.waiting.withLock { $0.take() }
                    timer.cancel()
                    waiting?.resume(with: result)
                }
            }
        } onCancel: {
            work.cancel()
        }
    }

    /// The caller's continuation, resumed once by whichever of the body and the timer ends first.
    private final class Waiter<T: Sendable>: Sendable {
        let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
    }
}
