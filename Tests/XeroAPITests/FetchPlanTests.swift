import Testing
@testable import XeroAPI

@Suite struct FetchPlanTests {
    let configuration: XeroAPIConfiguration = {
        var c = XeroAPIConfiguration()
        c.apiBaseURL = "https://api.xero.com"
        return c
    }()
    var origin: URLOrigin { URLOrigin(configuration.apiBaseURL)! }

    func ref(_ tenant: String, _ category: String, _ id: String, url: String? = nil) -> ResourceRef {
        ResourceRef(tenantId: tenant, category: category, resourceId: id,
                    resourceURL: url ?? "https://api.xero.com/api.xro/2.0/Things/\(id)")
    }

    @Test func invoicesAreBatchedInFiftiesWithLiteralCommasAndShortURLs() {
        let ids = (0..<120).map { _ in newID() }
        let plan = FetchPlan(ids.map { ref("t1", "INVOICE", $0) }, configuration: configuration, origin: origin)
        #expect(plan.calls.count == 3)
        #expect(plan.calls.map(\.refs.count) == [50, 50, 20])
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
        #expect(plan.calls.flatMap(\.refs).count == 20)
    }

    @Test func groupsByTenantAndCategoryAndDeduplicatesIgnoringCase() {
        let id = newID()
        let refs = [
            ref("t1", "INVOICE", id), ref("T1", "invoice", id.uppercased()), ref("t1", "Invoice", id),
            ref("t2", "INVOICE", id), ref("t1", "CONTACT", id),
        ]
        let plan = FetchPlan(refs, configuration: configuration, origin: origin)
        #expect(plan.calls.count == 3)
        #expect(plan.calls.allSatisfy { $0.refs.count == 1 })
        #expect(Set(refs).count == 3)
    }

    @Test func creditNotesAndUnknownCategoriesUseTheirResourceURL() {
        let id = newID()
        let credit = ref("t1", "CREDITNOTE", id, url: "https://api.xero.com/api.xro/2.0/CreditNotes/\(id)")
        let bare = ResourceRef(tenantId: "t1", category: "CREDITNOTE", resourceId: newID(), resourceURL: "")
        let unknown = ref("t1", "PURCHASEORDER", newID(), url: "https://api.xero.com/api.xro/2.0/PurchaseOrders/x1")
        let nowhere = ResourceRef(tenantId: "t1", category: "MYSTERY", resourceId: newID(), resourceURL: "")
        let plan = FetchPlan([credit, bare, unknown, nowhere], configuration: configuration, origin: origin)
        #expect(plan.calls.map(\.url) == [
            credit.resourceURL, "https://api.xero.com/api.xro/2.0/CreditNotes/\(bare.resourceId)", unknown.resourceURL,
        ])
        #expect(plan.calls.allSatisfy { $0.kind == .single })
        guard case .permanent = plan.decided[nowhere] else {
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
        guard case .refused = plan.decided[bad], case .refused = plan.decided[batchable] else {
            Issue.record("\(url) must be refused")
            return
        }
    }

    @Test func idsThatCouldBreakTheURLOrAHeaderAreRefused() {
        let comma = ref("t1", "INVOICE", "a,b")
        let header = ResourceRef(tenantId: "t1\r\nX-Evil: 1", category: "INVOICE", resourceId: newID(), resourceURL: "")
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

    @Test func singleRecordIsUnwrappedFromItsCollection() {
        let body = Array(#"{"CreditNotes":[{"CreditNoteID":"c1","Total":2}]}"#.utf8)
        #expect(ResponseRecords.single(body, url: "https://h/api.xro/2.0/CreditNotes/c1", resourceId: "C1", unwrap: true)
            == .found(Array(#"{"CreditNoteID":"c1","Total":2}"#.utf8)))
        let empty = Array(#"{"CreditNotes":[]}"#.utf8)
        #expect(ResponseRecords.single(empty, url: "https://h/api.xro/2.0/CreditNotes/c1", resourceId: "c1", unwrap: true) == .notFound)
        let bare = Array(#"{"id":"s1","status":"ACTIVE"}"#.utf8)
        #expect(ResponseRecords.single(bare, url: "https://h/appstore/2.0/subscriptions/s1", resourceId: "s1", unwrap: false) == .found(bare))
    }
}
