import ByteJSON
import Worker

/// The row the postgres sink writes for one delivery record: the columns of the resource table,
/// read from the record (no database needed, so it is tested on its own).
package struct ResourceRow: Sendable, Equatable {
    package let tenantID: String
    package let category: String
    package let resourceID: String
    /// Xero's JSON for the resource as returned (nil when not found).
    package let resource: [UInt8]?
    package let notFound: Bool
    package let eventIDs: [String]
    /// The newest queue sequence among the events covered.
    package let sequence: Int64
    package let eventType: String
    /// Milliseconds since the epoch; nil when the field was absent or unreadable.
    package let eventDateUTC: Int64?
    package let receivedAt: Int64?
    package let fetchedAt: Int64
    /// The resource's `UpdatedDateUTC`, when it has one.
    package let updatedDateUTC: Int64?

    /// Nil for a record without a fetch (the worker's `events` mode) or with an unreadable
    /// `fetchedAt` (the worker always writes one).
    package init?(_ record: DeliveryRecord) {
        guard !record.eventsOnly, let fetched = XeroTimestamp.parseISO(record.fetchedAt), let newest = record.items.last else { return nil }
        tenantID = record.key.tenantID
        category = record.key.category
        resourceID = record.key.resourceID
        resource = record.resource
        notFound = record.resource == nil
        eventIDs = record.items.map(\.eventID)
        sequence = Int64(clamping: record.items.map(\.sequence).max() ?? newest.sequence)
        eventType = newest.eventType
        eventDateUTC = XeroTimestamp.parse(newest.eventDateUTC)
        receivedAt = XeroTimestamp.parse(newest.receivedAt)
        fetchedAt = fetched
        updatedDateUTC = record.resource.flatMap(Self.updatedDate)
    }

    /// `UpdatedDateUTC` of a resource's JSON (a top-level member), nil when absent or not a date.
    package static func updatedDate(_ json: [UInt8]) -> Int64? {
        guard let value = try? JSONParser.parse(json), let text = value["UpdatedDateUTC"]?.stringValue else { return nil }  // not JSON: no date to compare
        return XeroTimestamp.parse(text)
    }

    /// `tenant/CATEGORY/resource`: the NOTIFY payload.
    package var notification: String { "\(tenantID)/\(category)/\(resourceID)" }
}
