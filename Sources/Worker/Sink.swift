/// Where delivered records go. A record counts as accepted only when `deliver` reported success
/// for it; only then does the worker acknowledge its events in the queue (at least once).
public protocol Sink: Sendable {
    /// Delivers records; returns one result per record, in order.
    func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>]
}

public struct SinkError: Error, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
