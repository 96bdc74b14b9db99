import DaemonConfig
import ResourceFetch
import Worker
import XeroAPI

/// The worker's view of the Xero API client: the client answers the worker's requests in the
/// worker's terms already; this adds which credential a request needs and which tenants the
/// organisation token reaches.
package struct XeroFetcher: ResourceFetcher {
    /// The two credentials a fetch can need, as pauses and `/readyz` name them.
    package static let organisationCredential = "organisation token"
    package static let billingCredential = "App Store billing token (marketplace.billing)"

    package let client: XeroClient

    package init(client: XeroClient) {
        self.client = client
    }

    package func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchOutcome] { await client.fetch(requests) }

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
