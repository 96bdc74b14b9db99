/// What a fetcher is asked for: a resource and the URL its event named.
///
/// `resourceURL` is the event's `resourceUrl` (may be empty for categories the client can
/// address itself); a fetcher checks it and may refuse it, but it does not make two requests
/// for one `key` two resources.
package struct FetchRequest: Sendable, Hashable {
    package let key: ResourceKey
    package let resourceURL: String

    package init(key: ResourceKey, resourceURL: String) {
        self.key = key
        self.resourceURL = resourceURL
    }
}
