/// Identity of one Xero resource: `(tenantId, category, resourceId)`, compared without regard
/// to ASCII case (Xero sends `UPDATE` and `Update`; ids are GUIDs).
package struct ResourceKey: Sendable, Hashable, CustomStringConvertible {
    package let tenantID: String
    package let category: String
    package let resourceID: String

    package init(tenantID: String, category: String, resourceID: String) {
        self.tenantID = tenantID.lowercased()
        self.category = category.uppercased()
        self.resourceID = resourceID.lowercased()
    }

    package var description: String { "\(category) \(resourceID) (tenant \(tenantID))" }
}

/// What the worker asks the fetcher for: a resource and the URL its event named.
package struct FetchRequest: Sendable, Hashable {
    package let key: ResourceKey
    package let resourceURL: String

    package init(key: ResourceKey, resourceURL: String) {
        self.key = key
        self.resourceURL = resourceURL
    }
}

/// What fetching one resource gave. `found` holds the record exactly as Xero returned it.
package enum FetchResult: Sendable, Equatable {
    case found([UInt8])
    case notFound
    /// Something failed; worth trying again later (after `after`, when Xero said so). Counts an
    /// attempt.
    case retry(String, after: Duration?)
    /// Nothing failed, the call must wait (a rate limit, the client's own pacing, a token
    /// endpoint that does not answer): tried again after `after`, without counting an attempt.
    /// Only `maxAge` ends an event that keeps waiting.
    case wait(String, after: Duration?)
    /// Retrying cannot help (refused host, bad request…): the events go to the dead-letter store.
    case permanent(String)
    /// The credential this request needs (`ResourceFetcher.credential(for:)`) is unusable until
    /// an operator acts: resources needing it pause, others go on. Counts no attempt.
    case paused(String)
    /// Xero refused the tenant (403: disconnected from the app): its resources pause until
    /// `ResourceFetcher.connectedTenants()` lists it again. Counts no attempt.
    case disconnected(String)
    /// Nothing was fetched, on purpose (`EventsOnlyFetcher`): the record carries the events.
    case eventsOnly
}

/// The worker's `events` mode: nothing is fetched from Xero; each resource's events (coalesced,
/// deduplicated, in order) go to the sink as they were received, for users who want the signed
/// event stream only, or have no Xero credentials. Acknowledged, retried and dead-lettered the
/// same way as fetched records.
package struct EventsOnlyFetcher: ResourceFetcher {
    package init() {}
    package func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchResult] {
        Dictionary(requests.map { ($0.key, FetchResult.eventsOnly) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Fetches current records (the daemon adapts the Xero API client to this).
package protocol ResourceFetcher: Sendable {
    func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchResult]
    /// The name of the credential a request needs; a `.paused` result pauses every resource
    /// that needs the same one.
    func credential(for request: FetchRequest) -> String
    /// The tenants the credentials reach now (lower case), or nil when that cannot be known now.
    func connectedTenants() async -> Set<String>?
    /// Why `request` must not be fetched (its `resourceURL` names something else, or a place no
    /// token goes), decided without a request; nil when it may be. The worker asks this for the
    /// URL of every event of a resource, so one odd event is refused alone.
    func refusal(for request: FetchRequest) -> String?
}

extension ResourceFetcher {
    package func credential(for request: FetchRequest) -> String { "credentials" }
    package func connectedTenants() async -> Set<String>? { nil }
    package func refusal(for request: FetchRequest) -> String? { nil }
}
