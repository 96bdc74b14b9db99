import ResourceFetch
import Testing
import XeroTestSupport
@testable import XeroAPI

@Suite struct FetchPlanTests {
    let configuration: XeroAPIConfiguration = {
        var c = XeroAPIConfiguration()
        c.apiBaseURL = "https://api.xero.com"
        return c
    }()
    var origin: URLOrigin { URLOrigin(configuration.apiBaseURL)! }

    func ref(_ tenant: String, _ category: String, _ id: String, url: String? = nil) -> FetchRequest {
        let collection = ResourceKind.known[category.uppercased()]?.collection ?? "Things"
        return FetchRequest(key: ResourceKey(tenantID: tenant, category: category, resourceID: id),
                           resourceURL: url ?? "https://api.xero.com/api.xro/2.0/\(collection)/\(id)")
    }

    @Test func invoicesAreBatchedInFiftiesWithLiteralCommasAndShortURLs() {
        let ids = (0..<120).map { _ in newID() }
        let plan = FetchPlan(ids.map { ref("t1", "INVOICE", $0) }, configuration: configuration, origin: origin)
        #expect(plan.calls.count == 3)
        #expect(plan.calls.map(\.keys.count) == [50, 50, 20])
        for call in plan.calls {
            #expect(call.url.hasPrefix("https://api.xero.com/api.xro/2.0/Invoices?IDs="))
            #expect(call.url.hasSuffix("&page=1"))
            #expect(!call.url.contains("%2C"))
            #expect(call.url.utf8.count <= 2000)
            #expect(call.kind == .batch(collection: "Invoices", idKey: "InvoiceID"))
        }
        #expect(plan.calls[0].url.contains(ids[0] + "," + ids[1]))
    }

    @Test func urlLengthSplitsBeforeFiftyIds() {
        var tight = configuration
        tight.maxURLLength = 400
        let ids = (0..<20).map { _ in newID() }
        let plan = FetchPlan(ids.map { ref("t1", "CONTACT", $0) }, configuration: tight, origin: origin)
        #expect(plan.calls.count > 1)
        #expect(plan.calls.allSatisfy { $0.url.utf8.count <= 400 })
        #expect(plan.calls.flatMap(\.keys).count == 20)
    }

    @Test func groupsByTenantAndCategoryAndDeduplicatesIgnoringCase() {
        let id = newID()
        let refs = [
            ref("t1", "INVOICE", id), ref("T1", "invoice", id.uppercased()), ref("t1", "Invoice", id),
            ref("t2", "INVOICE", id), ref("t1", "CONTACT", id),
        ]
        let plan = FetchPlan(refs, configuration: configuration, origin: origin)
        #expect(plan.calls.count == 3)
        #expect(plan.calls.allSatisfy { $0.keys.count == 1 })
        #expect(Set(refs.map(\.key)).count == 3)
    }

    @Test func creditNotesAndUnknownCategoriesUseTheirResourceURL() {
        let id = newID()
        let credit = ref("t1", "CREDITNOTE", id, url: "https://api.xero.com/api.xro/2.0/CreditNotes/\(id)")
        let bare = FetchRequest(key: ResourceKey(tenantID: "t1", category: "CREDITNOTE", resourceID: newID()), resourceURL: "")
        let purchase = newID()
        let unknown = ref("t1", "PURCHASEORDER", purchase, url: "https://api.xero.com/api.xro/2.0/PurchaseOrders/\(purchase)")
        let nowhere = FetchRequest(key: ResourceKey(tenantID: "t1", category: "MYSTERY", resourceID: newID()), resourceURL: "")
        let plan = FetchPlan([credit, bare, unknown, nowhere], configuration: configuration, origin: origin)
        #expect(plan.calls.map(\.url) == [
            credit.resourceURL, "https://api.xero.com/api.xro/2.0/CreditNotes/\(bare.key.resourceID)", unknown.resourceURL,
        ])
        #expect(plan.calls.allSatisfy { $0.kind == .single })
        guard case .permanent = plan.decided[nowhere.key] else {
            Issue.record("no address for an unknown category without resourceUrl")
            return
        }
    }

    @Test(arguments: [
        "https://evil.example/api.xro/2.0/CreditNotes/x", "http://api.xero.com/api.xro/2.0/CreditNotes/x",
        "https://api.xero.com:8443/api.xro/2.0/CreditNotes/x", "https://user:pw@api.xero.com/api.xro/2.0/CreditNotes/x",
        "not a url", "https://api.xero.com.evil.example/x",
    ])
    func resourceURLOutsideTheAPIOriginIsRefused(_ url: String) {
        let bad = ref("t1", "CREDITNOTE", newID(), url: url)
        let batchable = ref("t1", "INVOICE", newID(), url: url)
        let plan = FetchPlan([bad, batchable], configuration: configuration, origin: origin)
        #expect(plan.calls.isEmpty)
        guard case .refused = plan.decided[bad.key], case .refused = plan.decided[batchable.key] else {
            Issue.record("\(url) must be refused")
            return
        }
    }

    @Test func contactBatchesAskForArchivedContacts() {
        let plan = FetchPlan([ref("t1", "CONTACT", newID()), ref("t1", "CONTACT", newID())], configuration: configuration, origin: origin)
        #expect(plan.calls.count == 1)
        #expect(plan.calls[0].url.hasSuffix("&page=1&includeArchived=true"))
        #expect(plan.calls[0].url.hasPrefix("https://api.xero.com/api.xro/2.0/Contacts?IDs="))
    }

    @Test(arguments: [
        ("CREDITNOTE", "https://api.xero.com/api.xro/2.0/CreditNotes/{id}", "https://api.xero.com/api.xro/2.0/CreditNotes/{id}"),
        ("PREPAYMENT", "https://api.xero.com/api.xro/2.0/Prepayments/{id}", "https://api.xero.com/api.xro/2.0/Prepayments/{id}"),
        ("OVERPAYMENT", "https://api.xero.com/api.xro/2.0/Overpayments/{id}", "https://api.xero.com/api.xro/2.0/Overpayments/{id}"),
        ("SUBSCRIPTION", "https://api.xero.com/appstore/2.0/Subscriptions/{id}", "https://api.xero.com/appstore/2.0/subscriptions/{id}"),
        // Scheme and host are case-insensitive: normalised here, not sent as written and retried.
        ("CREDITNOTE", "HTTPS://API.Xero.com/api.xro/2.0/creditnotes/{id}", "https://api.xero.com/api.xro/2.0/CreditNotes/{id}"),
    ])
    func eachCategoryIsFetchedFromItsOwnCollection(_ category: String, _ eventURL: String, _ fetched: String) {
        let id = newID()
        let event = ref("t1", category, id, url: eventURL.replacingOccurrences(of: "{id}", with: id))
        let plan = FetchPlan([event], configuration: configuration, origin: origin)
        #expect(plan.decided.isEmpty)
        #expect(plan.calls.map(\.url) == [fetched.replacingOccurrences(of: "{id}", with: id)])
        #expect(plan.calls.first?.kind == (category == "SUBSCRIPTION" ? .subscription : .single))
    }

    /// The reported attack: a CREDITNOTE event whose resourceUrl walks out of the collection.
    @Test(arguments: [
        "https://api.xero.com/api.xro/2.0/../../_stats?ID",
        "https://api.xero.com/api.xro/2.0/CreditNotes/../Invoices/{id}",
        "https://api.xero.com/api.xro/2.0/CreditNotes/./{id}",
        "https://api.xero.com/api.xro/2.0//CreditNotes/{id}",
        "https://api.xero.com/api.xro/2.0/CreditNotes%2F{id}",
        "https://api.xero.com/api.xro/2.0/CreditNotes/%2e%2e/{id}",
        "https://api.xero.com/api.xro/2.0/CreditNotes/{id}?where=1",
        "https://api.xero.com/api.xro/2.0/CreditNotes/{id}#x",
        "https://api.xero.com/api.xro/2.0/Invoices/{id}",
        "https://api.xero.com/api.xro/2.0/CreditNotes/{other}",
        "https://api.xero.com/api.xro/2.0/CreditNotes/{id}/History",
        "https://api.xero.com/connections",
    ])
    func aResourceURLThatDoesNotNameTheEventsResourceIsRefused(_ template: String) {
        let id = newID()
        let url = template.replacingOccurrences(of: "{id}", with: id).replacingOccurrences(of: "{other}", with: newID())
        let event = ref("t1", "CREDITNOTE", id, url: url)
        let plan = FetchPlan([event], configuration: configuration, origin: origin)
        #expect(plan.calls.isEmpty, "\(url) must not be fetched")
        guard case .refused = plan.decided[event.key] else {
            Issue.record("\(url) must be refused, got \(String(describing: plan.decided[event.key]))")
            return
        }
    }

    @Test func idsThatAreNotGUIDsNeverEnterABatch() {
        let good = [newID(), newID().uppercased()]
        let bad = ["abc-123", "00000000-0000-0000-0000-00000000000g", "{\(newID())}", newID() + "0"]
        let refs = (good + bad).map { ref("t1", "INVOICE", $0) }
        let plan = FetchPlan(refs, configuration: configuration, origin: origin)
        #expect(plan.calls.count == 1)
        #expect(Set(plan.calls[0].keys.map(\.resourceID)) == Set(good.map { $0.lowercased() }))
        for id in bad {
            guard case .refused = plan.decided[ref("t1", "INVOICE", id).key] else {
                Issue.record("\(id) must be refused before the batch")
                continue
            }
        }
    }

    @Test func aBatchSplitsIntoHalvesOfTheSameKind() throws {
        let refs = (0..<5).map { _ in ref("t1", "CONTACT", newID()) }
        let plan = FetchPlan(refs, configuration: configuration, origin: origin)
        let call = try #require(plan.calls.first)
        #expect(call.isSplittable)
        let halves = FetchPlan.halves(of: call, configuration: configuration)
        #expect(halves.map(\.keys.count) == [2, 3])
        #expect(halves.flatMap(\.keys) == call.keys)
        #expect(halves.allSatisfy { $0.url.hasSuffix("&includeArchived=true") && $0.kind == call.kind })
        #expect(!FetchPlan.halves(of: halves[0], configuration: configuration)[0].isSplittable)
    }

    @Test func idsThatCouldBreakTheURLOrAHeaderAreRefused() {
        let comma = ref("t1", "INVOICE", "a,b")
        let header = FetchRequest(key: ResourceKey(tenantID: "t1\r\nX-Evil: 1", category: "INVOICE", resourceID: newID()), resourceURL: "")
        let plan = FetchPlan([comma, header], configuration: configuration, origin: origin)
        #expect(plan.calls.isEmpty)
        #expect(plan.decided.count == 2)
    }
}

@Suite struct ResponseRecordsTests {
    @Test func batchRecordsAreTheExactBytesOfEachElement() {
        let body = Array(#"{"Id":"x","Status":"OK","Invoices":[ {"InvoiceID":"AB-1", "Total" : 1.50,"LineItems":[]} ,{"InvoiceID":"cd-2","Name":"\u00e9"}]}"#.utf8)
        let records = ResponseRecords.batch(body, collection: "Invoices", idKey: "InvoiceID")
        #expect(records?["ab-1"] == Array(#"{"InvoiceID":"AB-1", "Total" : 1.50,"LineItems":[]}"#.utf8))
        #expect(records?["cd-2"] == Array(#"{"InvoiceID":"cd-2","Name":"\u00e9"}"#.utf8))
    }

    let creditNotes = ResourceKind.known["CREDITNOTE"]!
    let subscriptions = ResourceKind.known["SUBSCRIPTION"]!

    @Test func singleRecordIsUnwrappedFromItsCollection() {
        let body = Array(#"{"CreditNotes":[{"CreditNoteID":"c1","Total":2}]}"#.utf8)
        #expect(ResponseRecords.single(body, resource: creditNotes, resourceId: "C1")
            == .found(Array(#"{"CreditNoteID":"c1","Total":2}"#.utf8)))
        let empty = Array(#"{"CreditNotes":[]}"#.utf8)
        #expect(ResponseRecords.single(empty, resource: creditNotes, resourceId: "c1") == .notFound)
        let bare = Array(#"{"id":"s1","status":"ACTIVE"}"#.utf8)
        #expect(ResponseRecords.single(bare, resource: subscriptions, resourceId: "s1") == .found(bare))
    }

    /// A single element with another id is not the event's resource, even when it is the only one.
    @Test func aRecordWithAnotherIdIsRefusedNotFound() {
        let other = Array(#"{"CreditNotes":[{"CreditNoteID":"c2","Total":2}]}"#.utf8)
        guard case let .refused(reason) = ResponseRecords.single(other, resource: creditNotes, resourceId: "c1") else {
            Issue.record("a record with another id must be refused")
            return
        }
        #expect(reason.contains("another id") && reason.contains("c2"))
        // Another record's id in a nested member does not make it this one.
        let nested = Array(#"{"CreditNotes":[{"CreditNoteID":"c2","Contact":{"ContactID":"c1"}}]}"#.utf8)
        guard case .refused = ResponseRecords.single(nested, resource: creditNotes, resourceId: "c1") else {
            Issue.record("a nested id must not count")
            return
        }
        let noArray = Array(#"{"Stats":{"Calls":3}}"#.utf8)
        guard case .retryable = ResponseRecords.single(noArray, resource: creditNotes, resourceId: "c1") else {
            Issue.record("an answer without the collection is not a record")
            return
        }
        let subscription = Array(#"{"id":"s2","status":"ACTIVE"}"#.utf8)
        guard case .refused = ResponseRecords.single(subscription, resource: subscriptions, resourceId: "s1") else {
            Issue.record("a subscription with another id must be refused")
            return
        }
    }
}
