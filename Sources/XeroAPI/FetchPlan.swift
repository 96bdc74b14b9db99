/// How `XeroClient.fetch` turns references into HTTP calls.
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
        var refs: [ResourceRef]
        /// The collection and id member of the records this call fetches.
        var resource: ResourceKind

        /// The reason given to every id of a multi-id batch Xero answered with 400. Such a batch
        /// is split in halves, down to the id Xero cannot take, instead of failing all of them.
        static let rejectedBatch = "Xero refused the IDs batch (400); it is split to find the id it cannot take"

        /// Whether a 400 on this call is worth splitting.
        var isSplittable: Bool {
            if case .batch = kind { return refs.count > 1 }
            return false
        }
    }

    var calls: [Call] = []
    /// Outcomes decided without any request (refused, permanent).
    var decided: [ResourceRef: FetchOutcome] = [:]

    init(_ refs: [ResourceRef], configuration: XeroAPIConfiguration, origin: URLOrigin) {
        var seen = Set<ResourceRef>()
        var batches: [String: (tenant: String, kind: ResourceKind, refs: [ResourceRef])] = [:]
        var batchOrder: [String] = []
        for ref in refs where seen.insert(ref).inserted {
            switch ResourceAddress.resolve(ref, configuration: configuration, origin: origin) {
            case let .decided(outcome):
                decided[ref] = outcome
            case let .fetch(kind, _) where kind.batchable:
                let key = ref.tenantId.lowercased() + " " + kind.collection
                if batches[key] == nil {
                    batches[key] = (ref.tenantId, kind, [])
                    batchOrder.append(key)
                }
                batches[key]!.refs.append(ref)
            case let .fetch(kind, url):
                calls.append(Call(tenantId: ref.tenantId, kind: kind.api == .appStore ? .subscription : .single,
                                  url: url, refs: [ref], resource: kind))
            }
        }
        for key in batchOrder {
            let (tenant, kind, refs) = batches[key]!
            for chunk in Self.chunks(refs, base: kind.batchPrefix(configuration), suffix: kind.batchSuffix,
                                     configuration: configuration) {
                calls.append(Self.batch(tenant: tenant, kind: kind, refs: chunk, configuration: configuration))
            }
        }
    }

    /// One `IDs=` call for `refs` (all of one tenant and kind).
    static func batch(tenant: String, kind: ResourceKind, refs: [ResourceRef], configuration: XeroAPIConfiguration) -> Call {
        let url = kind.batchPrefix(configuration) + refs.map(\.resourceId).joined(separator: ",") + kind.batchSuffix
        return Call(tenantId: tenant, kind: .batch(collection: kind.collection, idKey: kind.idKey ?? "ID"), url: url,
                    refs: refs, resource: kind)
    }

    /// The two halves of a batch Xero refused with 400.
    static func halves(of call: Call, configuration: XeroAPIConfiguration) -> [Call] {
        let middle = call.refs.count / 2
        return [Array(call.refs[..<middle]), Array(call.refs[middle...])].map {
            batch(tenant: call.tenantId, kind: call.resource, refs: $0, configuration: configuration)
        }
    }

    /// Splits `refs` so each request has at most `maxIDsPerRequest` ids and a URL of at most
    /// `maxURLLength` characters.
    static func chunks(_ refs: [ResourceRef], base: String, suffix: String,
                       configuration: XeroAPIConfiguration) -> [[ResourceRef]] {
        var result: [[ResourceRef]] = []
        var current: [ResourceRef] = []
        var length = base.utf8.count + suffix.utf8.count
        for ref in refs {
            let added = ref.resourceId.utf8.count + (current.isEmpty ? 0 : 1)
            if !current.isEmpty && (current.count >= configuration.maxIDsPerRequest || length + added > configuration.maxURLLength) {
                result.append(current)
                current = []
                length = base.utf8.count + suffix.utf8.count
            }
            length += ref.resourceId.utf8.count + (current.isEmpty ? 0 : 1)
            current.append(ref)
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}
