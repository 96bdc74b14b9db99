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
