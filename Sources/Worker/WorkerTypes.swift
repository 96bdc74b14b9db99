/// Identity of one Xero resource: `(tenantId, category, resourceId)`, compared without regard
/// to ASCII case (Xero sends `UPDATE` and `Update`; ids are GUIDs).
public struct ResourceKey: Sendable, Hashable, CustomStringConvertible {
    public let tenantID: String
    public let category: String
    public let resourceID: String

    public init(tenantID: String, category: String, resourceID: String) {
        self.tenantID = tenantID.lowercased()
        self.category = category.uppercased()
        self.resourceID = resourceID.lowercased()
    }

    public var description: String { "\(category) \(resourceID) (tenant \(tenantID))" }
}

/// What the worker asks the fetcher for: a resource and the URL its event named.
public struct FetchRequest: Sendable, Hashable {
    public let key: ResourceKey
    public let resourceURL: String
}

/// What fetching one resource gave. `found` holds the record exactly as Xero returned it.
public enum FetchResult: Sendable, Equatable {
    case found([UInt8])
    case notFound
    /// Worth trying again later (after `after`, when Xero said so).
    case retry(String, after: Duration?)
    /// Retrying cannot help (403, refused host…): the events go to the dead-letter store.
    case permanent(String)
    /// No usable credentials until an operator acts: the worker pauses without counting attempts.
    case paused(String)
}

/// Fetches current records (the daemon adapts the Xero API client to this).
public protocol ResourceFetcher: Sendable {
    func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchResult]
}
