import SystemSupport

/// Where delivered records go. A record counts as accepted only when `deliver` reported success
/// for it; only then does the worker acknowledge its events in the queue (at least once).
package protocol Sink: Sendable {
    /// Delivers records; returns one result per record, in order.
    func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>]
}

/// Why a sink did not take a record: a sentence for the log and the dead letter, and, when a
/// system call failed, that call with its errno.
package struct SinkError: Error, Equatable, CustomStringConvertible {
    package let reason: String
    /// The failed system call (name, errno, path), when the failure was one.
    package let system: SystemCallError?

    package init(_ reason: String) {
        self.reason = reason
        system = nil
    }

    /// A failed system call; `context` says what the sink was doing.
    package init(_ error: SystemCallError, context: String? = nil) {
        reason = context.map { "\($0): \(error)" } ?? error.description
        system = error
    }

    package var description: String { reason }
}

/// A sink with work of its own between the daemon's start and stop (a connection pool, schema
/// migrations). The daemon calls `start` once, before the worker's first delivery, and `stop`
/// after the worker's last delivery has returned.
package protocol ManagedSink: Sink {
    /// Begins the sink's background work and returns at once; a failure there is logged, and
    /// deliveries fail (and are retried) until it succeeds.
    func start()
    /// Ends the background work and closes connections.
    func stop() async
}
