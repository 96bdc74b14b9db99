import ByteJSON
import Foundation
/// The queue record for one received event.
///
/// Stored as one JSON object, `{"receivedAt":"…Z","eventSequence":N,"event":<event>}`, where
/// `<event>` is the event's JSON byte-for-byte as Xero sent it. An event replayed from the
/// dead-letter store also carries the id it had (`"eventId":"…"`), since the dead letter keeps
/// the event compacted to one line and its id is a digest of the bytes as first received. `eventSequence` is
/// `firstEventSequence + index` within the delivery (Xero numbers a delivery's events
/// contiguously) and is left out when the delivery had no sequence. The queue's own record
/// sequence is kept in the record frame, not here.
package struct QueuedEvent: Sendable, Equatable {
    package var receivedAt: String
    package var eventSequence: Int64?
    package var event: [UInt8]
    /// The event's id when it was fixed earlier (a replayed dead letter); else it is `EventID.of(event)`.
    package var eventID: String?

    package init(receivedAt: String, eventSequence: Int64?, event: [UInt8], eventID: String? = nil) {
        self.receivedAt = receivedAt
        self.eventSequence = eventSequence
        self.event = event
        self.eventID = eventID
    }

    /// The record bytes.
    package func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(event.count + 80)
        out.append(contentsOf: #"{"receivedAt":"#.utf8)
        out.append(contentsOf: JSONText.quoted(receivedAt))  // a replayed letter's value is not ours
        if let eventID {
            out.append(contentsOf: #","eventId":"#.utf8)
            out.append(contentsOf: JSONText.quoted(eventID))
        }
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
    package static func decode(_ bytes: [UInt8]) throws(JSONParser.Failure) -> QueuedEvent {
        let root = try JSONParser.parse(bytes)
        guard let receivedAt = root["receivedAt"]?.stringValue, let event = root["event"], event.isObject else {
            throw JSONParser.Failure(offset: 0, reason: "not a queued event record")
        }
        return QueuedEvent(
            receivedAt: receivedAt,
            eventSequence: root["eventSequence"]?.int64Value,
            event: Array(bytes[event.range]),
            eventID: root["eventId"]?.stringValue
        )
    }

    /// One line for `queue dump`: the record with the queue sequence in front,
    /// `{"sequence":S,"receivedAt":…,"event":…}`, without the insignificant whitespace of an
    /// indented delivery (the queue itself keeps the bytes as received). A record that is not a
    /// JSON object (damaged, or written by something else) is shown as
    /// `{"sequence":S,"undecodable":true,"base64":"…"}`, still one line.
    package static func dumpLine(sequence: some BinaryInteger, record: [UInt8]) -> [UInt8] {
        var out: [UInt8] = Array(#"{"sequence":"#.utf8)
        out.append(contentsOf: String(sequence).utf8)
        guard let root = try? JSONParser.parse(record), root.isObject else {  // shown as it is, not fixed
            out.append(contentsOf: #","undecodable":true,"base64":""#.utf8)
            out.append(contentsOf: Data(record).base64EncodedString().utf8)
            out.append(contentsOf: #""}"#.utf8)
            return out
        }
        let compact = JSONText.compacted(record)  // `{…}`
        if compact.count > 2 { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: compact.dropFirst())
        return out
    }
}
