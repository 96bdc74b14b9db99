/// The worker of a queue several daemons share (cluster mode's postgres queue), which the daemon
/// runs in place of the disk queue's `Worker`.
package protocol SharedQueueWorker: Sendable {
    /// Begins taking work and returns at once.
    func start()
    /// Takes no more work; returns when what it holds is settled.
    func stop() async
    var statusSnapshot: WorkerStatus { get }
    /// Tries paused work again now (after SIGHUP re-read the credentials).
    func recheckPauses() async
}

/// A shared queue that can say how many events wait in it and how many are dead-lettered, for
/// `/metrics` (nil when it cannot tell quickly).
package protocol QueueCounting: Sendable {
    func pendingAndDead() async -> (pending: Int, dead: Int)?
}

/// Makes a shared queue's worker, given where its events are reported.
package typealias SharedQueueWorkerMaker = @Sendable (@escaping @Sendable (WorkerEvent) -> Void) -> any SharedQueueWorker
