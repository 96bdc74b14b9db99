import ResourceFetch

/// Fetches current records (the daemon adapts the Xero API client to this).
package protocol ResourceFetcher: Sendable {
    func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchOutcome]
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
