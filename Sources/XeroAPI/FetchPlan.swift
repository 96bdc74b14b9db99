import ResourceFetch

/// How `XeroClient.fetch` turns requests into HTTP calls.
///
/// Every URL is built here from the category's collection (`ResourceKind`) and the event's
/// `resourceId`; an event's `resourceUrl` is checked by `ResourceAddress` and never followed.
///
/// - INVOICE and CONTACT: one `GET {api}/api.xro/2.0/Invoices?IDs=a,b,c&page=1` per tenant and
///   up to `maxIDsPerRequest` ids, the URL kept within `maxURLLength`. Commas are literal (Xero
///   cannot parse `%2C`). Contacts add `includeArchived=true`.
/// - SUBSCRIPTION: one GET per resource on the App Store API, with the billing token.
/// - Anything else (CREDITNOTE, PREPAYMENT, …): one GET per resource.
struct FetchPlan: Sendable {
    enum Kind: Sendable, Equatable {
        /// `IDs=` batch; `collection` names the answer's array, `idKey` each element's id member.
        case batch(collection: String, idKey: String)
        /// One resource on the accounting API.
        case single
        /// One App Store subscription, with the billing token and without a tenant header.
        case subscription
    }

    struct Call: Sendable {
        var tenantId: String
        var kind: Kind
        var url: String
        /// The resources it fetches (one, or a batch of one tenant and kind).
        var keys: [ResourceKey]
        /// The collection and id member of the records this call fetches.
        var resource: ResourceKind

        /// The reason given to every id of a multi-id batch Xero answered with 400. Such a batch
        /// is split in halves, down to the id Xero cannot take, instead of failing all of them.
        static let rejectedBatch = "Xero refused the IDs batch (400); it is split to find the id it cannot take"

        /// Whether a 400 on this call is worth splitting.
        var isSplittable: Bool {
            if case .batch = kind { return keys.count > 1 }
            return false
        }
    }

    var calls: [Call] = []
    /// Outcomes decided without any request (refused, permanent).
    var decided: [ResourceKey: FetchOutcome] = [:]

    /// Two requests for one resource are one fetch: the first one's `resourceURL` is checked.
    init(_ requests: [FetchRequest], configuration: XeroAPIConfiguration, origin: URLOrigin) {
        var seen = Set<ResourceKey>()
        var batches: [String: (tenant: String, kind: ResourceKind, keys: [ResourceKey])] = [:]
        var batchOrder: [String] = []
        for request in requests where seen.insert(request.key).inserted {
            let key = request.key
            switch ResourceAddress.resolve(request, configuration: configuration, origin: origin) {
            case let .decided(outcome):
                decided[key] = outcome
            case let .fetch(kind, _) where kind.batchable:
                let batch = key.tenantID + " " + kind.collection
                if batches[batch] == nil {
                    batches[batch] = (key.tenantID, kind, [])
                    batchOrder.append(batch)
                }
                batches[batch]!.keys.append(key)
            case let .fetch(kind, url):
                calls.append(Call(tenantId: key.tenantID, kind: kind.api == .appStore ? .subscription : .single,
                                  url: url, keys: [key], resource: kind))
            }
        }
        for batch in batchOrder {
            let (tenant, kind, keys) = batches[batch]!
            for chunk in Self.chunks(keys, base: kind.batchPrefix(configuration), suffix: kind.batchSuffix,
                                     configuration: configuration) {
                calls.append(Self.batch(tenant: tenant, kind: kind, keys: chunk, configuration: configuration))
            }
        }
    }

    /// One `IDs=` call for `keys` (all of one tenant and kind).
    static func batch(tenant: String, kind: ResourceKind, keys: [ResourceKey], configuration: XeroAPIConfiguration) -> Call {
        let url = kind.batchPrefix(configuration) + keys.map(\.resourceID).joined(separator: ",") + kind.batchSuffix
        return Call(tenantId: tenant, kind: .batch(collection: kind.collection, idKey: kind.idKey ?? "ID"), url: url,
                    keys: keys, resource: kind)
    }

    /// The two halves of a batch Xero refused with 400.
    static func halves(of call: Call, configuration: XeroAPIConfiguration) -> [Call] {
        let middle = call.keys.count / 2
        return [Array(call.keys[..<middle]), Array(call.keys[middle...])].map {
            batch(tenant: call.tenantId, kind: call.resource, keys: $0, configuration: configuration)
        }
    }

    /// Splits `keys` so each request has at most `maxIDsPerRequest` ids and a URL of at most
    /// `maxURLLength` characters.
    static func chunks(_ keys: [ResourceKey], base: String, suffix: String,
                       configuration: XeroAPIConfiguration) -> [[ResourceKey]] {
        var result: [[ResourceKey]] = []
        var current: [ResourceKey] = []
        var length = base.utf8.count + suffix.utf8.count
        for key in keys {
            let added = key.resourceID.utf8.count + (current.isEmpty ? 0 : 1)
            if !current.isEmpty && (current.count >= configuration.maxIDsPerRequest || length + added > configuration.maxURLLength) {
                result.append(current)
                current = []
                length = base.utf8.count + suffix.utf8.count
            }
            length += key.resourceID.utf8.count + (current.isEmpty ? 0 : 1)
            current.append(key)
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}
