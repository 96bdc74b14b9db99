/// Identity of one Xero resource: `(tenantId, category, resourceId)` as a webhook event names
/// it, compared without regard to ASCII case (Xero sends `UPDATE` and `Update`; ids are GUIDs).
///
/// Normalised once, here: the tenant and resource ids in lower case, the category in upper
/// case, so every place that keys, batches or sends by them sees the same spelling. Two events
/// for the same resource are one fetch (xero-facts §3.5); the URL an event names is not part of
/// the identity (see `FetchRequest`).
package struct ResourceKey: Sendable, Hashable, CustomStringConvertible {
    /// The event's `tenantId` (an OrganisationID, or the ApplicationID for SUBSCRIPTION events).
    package let tenantID: String
    /// The event's `eventCategory`, e.g. `INVOICE`, `CONTACT`, `CREDITNOTE`, `SUBSCRIPTION`.
    package let category: String
    /// The event's `resourceId`.
    package let resourceID: String

    package init(tenantID: String, category: String, resourceID: String) {
        self.tenantID = tenantID.lowercased()
        self.category = category.uppercased()
        self.resourceID = resourceID.lowercased()
    }

    package var description: String { "\(category) \(resourceID) (tenant \(tenantID))" }
}
