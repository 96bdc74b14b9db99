import ByteJSON
import ResourceFetch

/// One record handed to the sink: the current state of one resource and every event it covers.
///
/// Schema (one JSON object on one line, whatever whitespace Xero's answer had):
/// `{"eventIds":[…],"sequences":[…],"tenantId":"…","category":"INVOICE","eventType":"UPDATE",
///   "resourceId":"…","eventDateUtc":"…","receivedAt":"…","fetchedAt":"…","notFound":false,
///   "resource":{…as Xero returned it…}}` — `resource` is `null` and `notFound` true when Xero no
/// longer has the resource (deleted, or not visible to this connection). `eventType`,
/// `eventDateUtc` and `receivedAt` are those of the newest event covered. Event ids are stable
/// (see `EventID`): consumers deduplicate on them, as a record may be delivered more than once.
package struct DeliveryRecord: Sendable, Equatable {
    package let items: [QueuedItem]
    package let key: ResourceKey
    /// nil when not found.
    package let resource: [UInt8]?
    package let fetchedAt: String
    /// The worker's `events` mode: nothing was fetched; the record carries the events instead
    /// of `fetchedAt`, `notFound` and `resource`.
    package let eventsOnly: Bool

    /// The newest event covered (the last of `items`).
    private let newest: QueuedItem

    /// Nil when `items` is empty (a record covers at least one event).
    package init?(items: [QueuedItem], resource: [UInt8]?, fetchedAt: String) {
        guard let newest = items.last else { return nil }
        self.items = items
        self.newest = newest
        self.key = items[0].key
        self.resource = resource
        self.fetchedAt = fetchedAt
        eventsOnly = false
    }

    /// A record of `items` as received, for the worker's `events` mode:
    /// `{…the same fields up to receivedAt…,"events":[{…each event as Xero sent it…}]}`.
    /// Nil when `items` is empty.
    package init?(eventsOf items: [QueuedItem]) {
        guard let newest = items.last else { return nil }
        self.items = items
        self.newest = newest
        key = items[0].key
        resource = nil
        fetchedAt = ""
        eventsOnly = true
    }

    /// The record as one line of JSON (no trailing newline).
    package func json() -> [UInt8] {
        var out: [UInt8] = Array(#"{"eventIds":["#.utf8)
        out += items.map { JSONText.quoted($0.eventID) }.joined(separator: [UInt8(ascii: ",")])
        out += Array(#"],"sequences":["#.utf8)
        out += Array(items.map { String($0.sequence) }.joined(separator: ",").utf8)
        out += Array(#"],"tenantId":"#.utf8) + JSONText.quoted(newest.key.tenantID)
        out += Array(#","category":"#.utf8) + JSONText.quoted(key.category)
        out += Array(#","eventType":"#.utf8) + JSONText.quoted(newest.eventType)
        out += Array(#","resourceId":"#.utf8) + JSONText.quoted(newest.key.resourceID)
        out += Array(#","eventDateUtc":"#.utf8) + JSONText.quoted(newest.eventDateUTC)
        out += Array(#","receivedAt":"#.utf8) + JSONText.quoted(newest.receivedAt)
        if eventsOnly {
            out += Array(#","events":["#.utf8)
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendCompacted(item.event, to: &out)
            }
            out += Array("]}".utf8)
            return out
        }
        out += Array(#","fetchedAt":"#.utf8) + JSONText.quoted(fetchedAt)
        if let resource {
            out += Array(#","notFound":false,"resource":"#.utf8)
            // Xero answers in indented JSON with CRLF breaks: the record must stay one line.
            JSONText.appendCompacted(resource, to: &out)
        } else {
            out += Array(#","notFound":true,"resource":null"#.utf8)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
