import ResourceFetch

/// The worker's `events` mode: nothing is fetched from Xero; each resource's events (coalesced,
/// deduplicated, in order) go to the sink as they were received, for users who want the signed
/// event stream only, or have no Xero credentials. Acknowledged, retried and dead-lettered the
/// same way as fetched records.
package struct EventsOnlyFetcher: ResourceFetcher {
    package init() {}
    package func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchOutcome] {
        Dictionary(requests.map { ($0.key, FetchOutcome.eventsOnly) }, uniquingKeysWith: { first, _ in first })
    }
}
