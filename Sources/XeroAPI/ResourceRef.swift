/// One changed resource, as named by a webhook event.
///
/// Identity is `(tenantId, category, resourceId)`, compared without regard to ASCII case (Xero
/// sends `UPDATE` and `Update`; ids are GUIDs). `resourceURL` rides along but is not part of the
/// identity: two events for the same resource are one fetch (xero-facts §3.5).
package struct ResourceRef: Sendable, Hashable, CustomStringConvertible {
    /// The event's `tenantId` (an OrganisationID, or the ApplicationID for SUBSCRIPTION events).
    package var tenantId: String
    /// The event's `eventCategory`, e.g. `INVOICE`, `CONTACT`, `CREDITNOTE`, `SUBSCRIPTION`.
    package var category: String
    /// The event's `resourceId`.
    package var resourceId: String
    /// The event's `resourceUrl`; may be empty for categories the client can address itself.
    package var resourceURL: String

    package init(tenantId: String, category: String, resourceId: String, resourceURL: String) {
        self.tenantId = tenantId
        self.category = category
        self.resourceId = resourceId
        self.resourceURL = resourceURL
    }

    package static func == (lhs: ResourceRef, rhs: ResourceRef) -> Bool {
        lhs.tenantId.lowercased() == rhs.tenantId.lowercased()
            && lhs.category.lowercased() == rhs.category.lowercased()
            && lhs.resourceId.lowercased() == rhs.resourceId.lowercased()
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(tenantId.lowercased())
        hasher.combine(category.lowercased())
        hasher.combine(resourceId.lowercased())
    }

    package var description: String { "\(category.uppercased()) \(resourceId) (tenant \(tenantId))" }

    /// The category in upper case, for dispatch.
    var normalizedCategory: String { category.uppercased() }
}
