/// At most one renewal at a time: a caller that comes while one runs awaits that one's result
/// instead of starting its own. Owned by a token provider actor and used only from it; the work
/// runs in a task on that actor.
final class SingleFlight<Value: Sendable> {
    private var running: Task<Value, Never>?

    /// The result of the run in flight, or of a new run of `body` when none is.
    nonisolated(nonsending) func run(_ body: @escaping @Sendable () async -> Value) async -> Value {
        if let running { return await running.value }
        let task = Task { await body() }
        running = task
        let value = await task.value
        if running == task { running = nil }
        return value
    }
}
