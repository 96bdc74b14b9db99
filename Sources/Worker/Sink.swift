/// Where delivered records go. A record counts as accepted only when `deliver` reported success
/// for it; only then does the worker acknowledge its events in the queue (at least once).
package protocol Sink: Sendable {
    /// Delivers records; returns one result per record, in order.
    func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>]
}

package struct SinkError: Error, Equatable, CustomStringConvertible {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}
