import Worker
import XeroAPI

/// The worker's view of the Xero API client: maps the worker's requests to resource refs and
/// the client's outcomes to the worker's closed set of results.
struct XeroFetcher: ResourceFetcher {
    let client: XeroClient

    func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchResult] {
        var byRef: [ResourceRef: ResourceKey] = [:]
        for request in requests {
            let ref = ResourceRef(tenantId: request.key.tenantID, category: request.key.category,
                                  resourceId: request.key.resourceID, resourceURL: request.resourceURL)
            byRef[ref] = request.key
        }
        let outcomes = await client.fetch(Array(byRef.keys))
        var results: [ResourceKey: FetchResult] = [:]
        for (ref, key) in byRef {
            results[key] = switch outcomes[ref] {
            case let .found(bytes)?: .found(bytes)
            case .notFound?: .notFound
            case let .retryable(reason, retryAfter)?: .retry(reason, after: retryAfter)
            case let .permanent(reason)?: .permanent(reason)
            case let .refused(reason)?: .permanent("refused: \(reason)")
            case let .paused(reason)?: .paused(reason)
            case nil: .retry("no answer for this resource", after: nil)
            }
        }
        return results
    }
}
