import ResourceFetch

/// How the worker retries, batches and paces itself.
package struct WorkerConfiguration: Sendable, Equatable {
    /// Attempts (fetch plus delivery) before an event goes to the dead-letter store. Waits (rate
    /// limits, credential outages) and pauses are not attempts.
    package var maxAttempts = 10
    /// Age after its first failed attempt, wait or pause at which an event goes to the
    /// dead-letter store (the only end of an event that keeps waiting).
    package var maxAge: Duration = .seconds(24 * 3600)
    package var backoff = Backoff()
    /// Events read ahead of the consumer position (bounds memory while something retries).
    package var window = 10_000
    /// Resources handed to one fetch for one tenant.
    package var maxResourcesPerFetch = 250
    /// The longest an idle worker waits before looking again (for replay requests an admin
    /// command left in the dead-letter store). New records, finished lanes and due retries and
    /// pause checks wake it at once.
    package var pollInterval: Duration = .seconds(1)
    /// How often a pause is checked again: a paused credential lets one fetch through, a
    /// disconnected tenant is looked up in `/connections` (SIGHUP checks at once).
    package var pauseRecheck: Duration = .seconds(30)
    /// Longest wait after a `.wait` result that named no time (e.g. the token endpoint is down).
    package var waitCap: Duration = .seconds(60)

    package init() {}
}

/// Things the worker reports, for logs and metrics.
package enum WorkerEvent: Sendable, Equatable {
    case delivered(key: ResourceKey, events: Int, notFound: Bool)
    case retrying(key: ResourceKey, attempt: Int, after: Duration, reason: String)
    /// A rate limit or a credential outage: tried again after `after`, no attempt counted.
    case waiting(key: ResourceKey, after: Duration, reason: String)
    case deadLettered(id: String, reason: String)
    case replayed(id: String)
    /// A replay request could not be taken or removed (its file or `dead/replay/` belongs to
    /// another user); left in place and not tried again until the next start.
    case replayFailed(id: String, reason: String)
    /// Resources needing this credential, or of this tenant, are held back.
    case paused(PauseScope, reason: String)
    /// The pause ended (a fetch needing it worked, or the tenant is connected again).
    case resumed(PauseScope)
    /// A state file (or part of it) was not used: damaged, or written for another queue. At worst
    /// the events it named are delivered again.
    case stateIgnored(file: String, reason: String)
    /// The worker could not read the queue or write its files for want of file descriptors,
    /// memory or disk space (EMFILE, ENFILE, ENOMEM, ENOSPC, EDQUOT). It keeps what it holds and
    /// tries again; reported once per shortage.
    case shortage(reason: String)
    /// The queue or the worker's own files failed; the worker stops acknowledging until restart.
    case failed(reason: String)
    /// A shared queue's database did not answer (cluster mode's postgres queue); the worker
    /// tries again, and a lane it could not settle is taken again when its lease ends.
    case queueUnavailable(reason: String)
}

/// A snapshot for health checks and metrics.
package struct WorkerStatus: Sendable, Equatable {
    package var pending = 0
    package var tenantsInFlight = 0
    package var delivered = 0
    package var deadLettered = 0
    package var retriesScheduled = 0
    /// Every pause in force, oldest first.
    package var pauses: [Pause] = []
    package var failed: String?
    package var position: UInt64 = 1
    /// Milliseconds since the epoch of the last pass of the loop (for stall detection).
    package var lastPass: Int64 = 0
    /// With a shared queue (cluster mode's postgres queue): why its database does not answer,
    /// while it does not.
    package var sharedUnavailable: String?

    package init() {}
}
