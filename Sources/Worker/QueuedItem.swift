import ByteJSON
import DiskQueue
import EventRecord
import ResourceFetch

/// One queued event as the worker sees it: the queue record decoded and its fields read.
package struct QueuedItem: Sendable, Equatable {
    package let sequence: UInt64
    package let receivedAt: String
    package let eventID: String
    /// The event's JSON as Xero sent it.
    package let event: [UInt8]
    package let key: ResourceKey
    package let resourceURL: String
    package let eventType: String
    package let eventDateUTC: String

    package enum DecodeError: Error, Equatable, CustomStringConvertible {
        case notAQueuedEvent(String)
        case missingField(String)
        case digestUnavailable

        package var description: String {
            switch self {
            case let .notAQueuedEvent(reason): "record is not a queued event: \(reason)"
            case let .missingField(name): "event has no \(name)"
            case .digestUnavailable: "could not compute the event id"
            }
        }
    }

    /// Decodes a queue record written by the webhook receiver.
    package static func decode(_ record: QueueRecord) throws(DecodeError) -> QueuedItem {
        let queued: QueuedEvent
        do {
            queued = try QueuedEvent.decode(record.payload)
        } catch {
            throw .notAQueuedEvent(error.description)
        }
        let event: JSONValue
        do {
            event = try JSONParser.parse(queued.event)
        } catch {
            throw .notAQueuedEvent(error.description)
        }
        func field(_ name: String) throws(DecodeError) -> String {
            guard let value = event[name]?.stringValue, !value.isEmpty else { throw .missingField(name) }
            return value
        }
        guard let id = queued.eventID ?? EventID.of(queued.event) else { throw .digestUnavailable }
        return QueuedItem(
            sequence: record.sequence,
            receivedAt: queued.receivedAt,
            eventID: id,
            event: queued.event,
            key: ResourceKey(tenantID: try field("tenantId"), category: try field("eventCategory"), resourceID: try field("resourceId")),
            resourceURL: event["resourceUrl"]?.stringValue ?? "",
            eventType: event["eventType"]?.stringValue ?? "",
            eventDateUTC: event["eventDateUtc"]?.stringValue ?? ""
        )
    }
}
