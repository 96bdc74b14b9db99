import ByteJSON
/// A Xero webhook delivery, parsed leniently *after* its signature was verified
/// (xero-facts.md §3): sequences may be 0 or absent, `eventDateUtc` has no zone, categories,
/// types and tenant types are kept as sent (unknown ones included), and the optional `data`
/// object rides along inside the raw event bytes.
package struct WebhookPayload: Sendable {
    /// One event, with its JSON exactly as received.
    package struct Event: Sendable, Equatable {
        /// The event object's bytes as they appeared in the body.
        package var raw: ArraySlice<UInt8>
        package var resourceURL: String?
        package var resourceID: String?
        package var tenantID: String?
        package var tenantType: String?
        package var category: String?
        package var type: String?
        package var eventDateUTC: String?
    }

    package enum Failure: Error, Equatable, CustomStringConvertible {
        case invalidJSON(String)
        case notAnObject
        case missingEvents
        case eventsNotAnArray
        case eventNotAnObject(index: Int)

        package var description: String {
            switch self {
            case let .invalidJSON(reason): "body is not JSON: \(reason)"
            case .notAnObject: "body is not a JSON object"
            case .missingEvents: "body has no \"events\" member"
            case .eventsNotAnArray: "\"events\" is not an array"
            case let .eventNotAnObject(index): "events[\(index)] is not an object"
            }
        }
    }

    package var events: [Event]
    package var firstEventSequence: Int64?
    package var lastEventSequence: Int64?
    package var entropy: String?

    /// Parses a delivery body. Anything that is not an object with an `events` array of objects
    /// is not a Xero payload; everything else is accepted.
    package static func parse(_ body: [UInt8]) throws(Failure) -> WebhookPayload {
        let root: JSONValue
        do {
            root = try JSONParser.parse(body)
        } catch {
            throw .invalidJSON(error.description)
        }
        guard root.isObject else { throw .notAnObject }
        guard let eventsValue = root["events"] else { throw .missingEvents }
        guard let items = eventsValue.arrayValue else { throw .eventsNotAnArray }
        var events: [Event] = []
        events.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard item.isObject else { throw .eventNotAnObject(index: index) }
            events.append(Event(
                raw: body[item.range],
                resourceURL: item["resourceUrl"]?.stringValue,
                resourceID: item["resourceId"]?.stringValue,
                tenantID: item["tenantId"]?.stringValue,
                tenantType: item["tenantType"]?.stringValue,
                category: item["eventCategory"]?.stringValue,
                type: item["eventType"]?.stringValue,
                eventDateUTC: item["eventDateUtc"]?.stringValue
            ))
        }
        return WebhookPayload(
            events: events,
            firstEventSequence: root["firstEventSequence"]?.int64Value,
            lastEventSequence: root["lastEventSequence"]?.int64Value,
            entropy: root["entropy"]?.stringValue
        )
    }
}
