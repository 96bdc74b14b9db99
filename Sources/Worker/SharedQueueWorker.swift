/// The worker of a queue several daemons share (cluster mode's postgres queue), which the daemon
/// runs in place of the disk queue's `Worker`.
package protocol SharedQueueWorker: Sendable {
    /// Begins taking work and returns at once.
    func start()
    /// Takes no more work; returns when what it holds is settled.
    func stop() async
    var statusSnapshot: WorkerStatus { get }
}

/// Makes a shared queue's worker, given where its events are reported.
package typealias SharedQueueWorkerMaker = @Sendable (@escaping @Sendable (WorkerEvent) -> Void) -> any SharedQueueWorker
