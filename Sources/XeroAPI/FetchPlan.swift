/// How `XeroClient.fetch` turns references into HTTP calls.
///
/// - INVOICE and CONTACT: one `GET {api}/api.xro/2.0/Invoices?IDs=a,b,c&page=1` per tenant and
///   up to `maxIDsPerRequest` ids, the URL kept within `maxURLLength`. Commas are literal (Xero
///   cannot parse `%2C`). `page=1` makes Xero include line items, which it leaves out of
///   unpaged multi-record answers; 50 ids always fit on one page of 100.
/// - SUBSCRIPTION: one GET per resource on the App Store API, with the billing token.
/// - Anything else (CREDITNOTE, …): one GET per resource on its `resourceUrl`, or on the
///   address the category implies when the event carries none.
///
/// A `resourceUrl` outside the API origin is refused, whatever the category, so a forged or
/// odd event can never make the client send a token elsewhere.
struct FetchPlan: Sendable {
    enum Kind: Sendable, Equatable {
        /// `IDs=` batch; `collection` names the answer's array, `idKey` each element's id member.
        case batch(collection: String, idKey: String)
        /// One resource on the accounting API (or another API under the same origin).
        case single
        /// One App Store subscription, with the billing token and without a tenant header.
        case subscription
    }

    struct Call: Sendable {
        var tenantId: String
        var kind: Kind
        var url: String
        var refs: [ResourceRef]
    }

    var calls: [Call] = []
    /// Outcomes decided without any request (refused, permanent).
    var decided: [ResourceRef: FetchOutcome] = [:]

    static let batchCategories: [String: (collection: String, idKey: String)] = [
        "INVOICE": ("Invoices", "InvoiceID"),
        "CONTACT": ("Contacts", "ContactID"),
    ]

    /// Collections for categories fetched one by one, when the event has no `resourceUrl`.
    static let singleCollections: [String: String] = [
        "CREDITNOTE": "CreditNotes",
        "PREPAYMENT": "Prepayments",
        "OVERPAYMENT": "Overpayments",
    ]

    init(_ refs: [ResourceRef], configuration: XeroAPIConfiguration, origin: URLOrigin) {
        var seen = Set<ResourceRef>()
        var batches: [String: (tenant: String, category: String, refs: [ResourceRef])] = [:]
        var batchOrder: [String] = []
        for ref in refs where seen.insert(ref).inserted {
            if let refusal = Self.refusal(ref, origin: origin) {
                decided[ref] = .refused(refusal)
                continue
            }
            let category = ref.normalizedCategory
            if Self.batchCategories[category] != nil {
                let key = ref.tenantId.lowercased() + " " + category
                if batches[key] == nil {
                    batches[key] = (ref.tenantId, category, [])
                    batchOrder.append(key)
                }
                batches[key]!.refs.append(ref)
                continue
            }
            switch Self.singleURL(ref, configuration: configuration) {
            case let .url(url):
                calls.append(Call(tenantId: ref.tenantId, kind: category == "SUBSCRIPTION" ? .subscription : .single,
                                  url: url, refs: [ref]))
            case let .unusable(outcome):
                decided[ref] = outcome
            }
        }
        for key in batchOrder {
            let (tenant, category, refs) = batches[key]!
            let (collection, idKey) = Self.batchCategories[category]!
            for chunk in Self.chunks(refs, base: "\(configuration.accountingBase)/\(collection)?IDs=",
                                     suffix: "&page=1", configuration: configuration) {
                let url = "\(configuration.accountingBase)/\(collection)?IDs="
                    + chunk.map(\.resourceId).joined(separator: ",") + "&page=1"
                calls.append(Call(tenantId: tenant, kind: .batch(collection: collection, idKey: idKey), url: url, refs: chunk))
            }
        }
    }

    /// Why `ref` must not be fetched at all, or nil.
    static func refusal(_ ref: ResourceRef, origin: URLOrigin) -> String? {
        guard XeroIdentifier.isSafe(ref.tenantId) else {
            return "the tenant id is not a Xero id (letters, digits and '-' only), so it is not sent"
        }
        guard XeroIdentifier.isSafe(ref.resourceId) else {
            return "the resource id is not a Xero id (letters, digits and '-' only)"
        }
        guard !ref.resourceURL.isEmpty else { return nil }
        guard let target = URLOrigin(ref.resourceURL) else {
            return "the resourceUrl is not an absolute http(s) URL without user info"
        }
        guard target == origin else {
            return "the resourceUrl points to \(target), not to the configured API origin \(origin); "
                + "no token is sent there"
        }
        return nil
    }

    enum Address {
        case url(String)
        case unusable(FetchOutcome)
    }

    static func singleURL(_ ref: ResourceRef, configuration: XeroAPIConfiguration) -> Address {
        let category = ref.normalizedCategory
        if !ref.resourceURL.isEmpty {
            guard !ref.resourceURL.contains("#") else { return .unusable(.refused("the resourceUrl has a fragment")) }
            return .url(ref.resourceURL)
        }
        if category == "SUBSCRIPTION" {
            return .url("\(configuration.appStoreBase)/subscriptions/\(ref.resourceId)")
        }
        if let collection = singleCollections[category] {
            return .url("\(configuration.accountingBase)/\(collection)/\(ref.resourceId)")
        }
        return .unusable(.permanent("the event has no resourceUrl and category \(category) has no known address"))
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
