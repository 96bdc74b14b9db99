import ByteJSON
/// The queue record for one received event.
///
/// Stored as one JSON object, `{"receivedAt":"…Z","eventSequence":N,"event":<event>}`, where
/// `<event>` is the event's JSON byte-for-byte as Xero sent it. `eventSequence` is
/// `firstEventSequence + index` within the delivery (Xero numbers a delivery's events
/// contiguously) and is left out when the delivery had no sequence. The queue's own record
/// sequence is kept in the record frame, not here.
public struct QueuedEvent: Sendable, Equatable {
    public var receivedAt: String
    public var eventSequence: Int64?
    public var event: [UInt8]

    public init(receivedAt: String, eventSequence: Int64?, event: [UInt8]) {
        self.receivedAt = receivedAt
        self.eventSequence = eventSequence
        self.event = event
    }

    /// The record bytes.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(event.count + 80)
        out.append(contentsOf: #"{"receivedAt":""#.utf8)
        out.append(contentsOf: receivedAt.utf8)
        out.append(UInt8(ascii: "\""))
        if let eventSequence {
            out.append(contentsOf: #","eventSequence":"#.utf8)
            out.append(contentsOf: String(eventSequence).utf8)
        }
        out.append(contentsOf: #","event":"#.utf8)
        out.append(contentsOf: event)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Decodes record bytes written by `encoded()`.
    public static func decode(_ bytes: [UInt8]) throws(JSONParser.Failure) -> QueuedEvent {
        let root = try JSONParser.parse(bytes)
        guard let receivedAt = root["receivedAt"]?.stringValue, let event = root["event"], event.isObject else {
            throw JSONParser.Failure(offset: 0, reason: "not a queued event record")
        }
        return QueuedEvent(
            receivedAt: receivedAt,
            eventSequence: root["eventSequence"]?.int64Value,
            event: Array(bytes[event.range])
        )
    }

    /// One line for `queue dump`: the record with the queue sequence in front,
    /// `{"sequence":S,"receivedAt":…,"event":…}`, without the insignificant whitespace of an
    /// indented delivery (the queue itself keeps the bytes as received).
    public static func dumpLine(sequence: UInt64, record: [UInt8]) -> [UInt8] {
        var out: [UInt8] = Array(#"{"sequence":"#.utf8)
        out.append(contentsOf: String(sequence).utf8)
        out.append(UInt8(ascii: ","))
        JSONText.appendCompacted(record.dropFirst(), to: &out)
        return out
    }
}
