/// Where the records of one event category live, and how their answers name them
/// (xero-facts §3.3, §5.1, §5.2).
///
/// The client builds every request URL from this table and the event's `resourceId`; an event's
/// `resourceUrl` is only checked against it, never followed as given.
struct ResourceKind: Sendable, Equatable {
    enum API: Sendable, Equatable {
        /// `{api}/api.xro/2.0`, with the organisation token and the tenant header.
        case accounting
        /// `{api}/appstore/2.0`, with the billing token and no tenant header.
        case appStore
    }

    var api: API
    /// The path segment of the collection (`Invoices`), also the name of the answer's array.
    var collection: String
    /// The member of each record that holds its id (`InvoiceID`); nil for a category this table
    /// does not know, whose record may carry its id in any top-level `…ID` member.
    var idKey: String?
    /// Whether `GET {collection}?IDs=a,b,c` exists (xero-facts §5.2).
    var batchable = false
    /// Query parameters added to every batch request, after `IDs=` and `page=1`.
    var batchQuery = ""

    /// The categories the client knows. CONTACT asks for archived contacts too: Xero sends
    /// UPDATE events when a contact is archived, and leaves archived contacts out of
    /// `GET /Contacts` unless `includeArchived=true` (xero-facts §3.2, §5.2).
    static let known: [String: ResourceKind] = [
        "INVOICE": ResourceKind(api: .accounting, collection: "Invoices", idKey: "InvoiceID", batchable: true),
        "CONTACT": ResourceKind(api: .accounting, collection: "Contacts", idKey: "ContactID", batchable: true,
                                batchQuery: "&includeArchived=true"),
        "CREDITNOTE": ResourceKind(api: .accounting, collection: "CreditNotes", idKey: "CreditNoteID"),
        "PREPAYMENT": ResourceKind(api: .accounting, collection: "Prepayments", idKey: "PrepaymentID"),
        "OVERPAYMENT": ResourceKind(api: .accounting, collection: "Overpayments", idKey: "OverpaymentID"),
        "SUBSCRIPTION": ResourceKind(api: .appStore, collection: "subscriptions", idKey: "id"),
    ]

    /// The base URL of this kind's API under `configuration`.
    func base(_ configuration: XeroAPIConfiguration) -> String {
        switch api {
        case .accounting: configuration.accountingBase
        case .appStore: configuration.appStoreBase
        }
    }

    /// `{base}/{collection}/{id}`.
    func singleURL(_ id: String, configuration: XeroAPIConfiguration) -> String {
        "\(base(configuration))/\(collection)/\(id)"
    }

    /// `{base}/{collection}?IDs=`; the ids and `batchSuffix` follow.
    func batchPrefix(_ configuration: XeroAPIConfiguration) -> String {
        "\(base(configuration))/\(collection)?IDs="
    }

    /// What follows the ids of a batch request. `page=1` makes Xero include line items, which
    /// it leaves out of unpaged multi-record answers; 50 ids always fit on one page of 100.
    var batchSuffix: String { "&page=1" + batchQuery }
}
