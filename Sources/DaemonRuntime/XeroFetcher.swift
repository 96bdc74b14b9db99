import DaemonConfig
import ResourceFetch
import Worker
import XeroAPI

/// The worker's view of the Xero API client: takes the worker's requests as they are and maps
/// the client's outcomes to the worker's closed set of results.
package struct XeroFetcher: ResourceFetcher {
    /// The two credentials a fetch can need, as pauses and `/readyz` name them.
    package static let organisationCredential = "organisation token"
    package static let billingCredential = "App Store billing token (marketplace.billing)"

    package let client: XeroClient

    package init(client: XeroClient) {
        self.client = client
    }

    package func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchResult] {
        let outcomes = await client.fetch(requests)
        var results: [ResourceKey: FetchResult] = [:]
        for request in requests {
            results[request.key] = switch outcomes[request.key] {
            case let .found(bytes)?: .found(bytes)
            case .notFound?: .notFound
            case let .retryable(reason, retryAfter)?: .retry(reason, after: retryAfter)
            case let .waiting(reason, retryAfter)?: .wait(reason, after: retryAfter)
            case let .permanent(reason)?: .permanent(reason)
            case let .refused(reason)?: .permanent("refused: \(reason)")
            case let .paused(reason)?: .paused(reason)
            case let .disconnected(reason)?: .disconnected(reason)
            case nil: .retry("no answer for this resource", after: nil)
            }
        }
        return results
    }

    /// The client's refusal of this event's `resourceUrl` (no request is made).
    package func refusal(for request: FetchRequest) -> String? { client.refusal(for: request) }

    /// SUBSCRIPTION events are fetched with the App Store billing token, everything else with
    /// the organisation token.
    package func credential(for request: FetchRequest) -> String {
        request.key.category == "SUBSCRIPTION" ? Self.billingCredential : Self.organisationCredential
    }

    /// The tenants `GET /connections` lists now; nil when it cannot be asked (no token, no answer).
    package func connectedTenants() async -> Set<String>? {
        guard case let .success(connections) = await client.connections() else { return nil }
        return Set(connections.map { $0.tenantId.lowercased() })
    }
}
