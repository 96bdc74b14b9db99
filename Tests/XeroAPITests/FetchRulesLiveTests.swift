import ByteJSON
import FakeXero
import Foundation
import ResourceFetch
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// Only what the event names is fetched, and archived contacts are records (issue items 8, 9),
/// against a live FakeXero.
@Suite struct FetchRulesLiveTests {
    func staticClient(_ harness: Harness, tenants: [String]) throws -> XeroClient {
        let token = harness.fake.issueAccessToken(tenants: tenants, lifetime: 100_000)
        return try harness.makeClient(StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")))
    }

    @Test func aCreditNoteEventPointingAtAnotherEndpointIsNotFetched() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), id = newID()
        let client = try staticClient(harness, tenants: [tenant])
        let base = harness.configuration.apiBaseURL
        let walkOut = FetchRequest(key: ResourceKey(tenantID: tenant, category: "CREDITNOTE", resourceID: id),
                                  resourceURL: "\(base)/api.xro/2.0/../../_stats?ID")
        let invoiceURL = FetchRequest(key: ResourceKey(tenantID: tenant, category: "CREDITNOTE", resourceID: newID()),
                                     resourceURL: "\(base)/api.xro/2.0/Invoices/\(id)")
        let outcomes = await client.fetch([walkOut, invoiceURL])
        guard case .refused = outcomes[walkOut.key], case .refused = outcomes[invoiceURL.key] else {
            throw Failure("both must be refused, got \(outcomes)")
        }
        #expect(harness.fake.stats.requestsByEndpoint.isEmpty)
        #expect(await client.metrics().apiCalls == 0)
    }

    @Test func aRecordWithAnotherIdIsNotDeliveredAsTheEventsResource() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), asked = newID(), other = newID()
        // Xero's answer to GET CreditNotes/{asked} holds one credit note, but it is another one.
        harness.fake.addRecord(tenant: tenant, collection: "CreditNotes", id: asked,
                               json: #"{"CreditNoteID":"\#(other)","Total":5.00}"#)
        let client = try staticClient(harness, tenants: [tenant])
        let ref = harness.ref(tenant, "CREDITNOTE", asked)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case let .refused(reason) = outcome else { throw Failure("expected refused, got \(outcome)") }
        #expect(reason.contains(other))
        #expect(harness.fake.stats.calls(tenant: tenant, endpoint: "CreditNotes/{id}") == 1)
    }

    @Test func anUpperCaseSchemeIsFetchedOnceNotRetried() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("CreditNotes")
        let client = try staticClient(harness, tenants: [tenant])
        let shouted = harness.configuration.apiBaseURL.replacingOccurrences(of: "http://", with: "HTTP://")
        let ref = FetchRequest(key: ResourceKey(tenantID: tenant, category: "CREDITNOTE", resourceID: id),
                              resourceURL: "\(shouted)/api.xro/2.0/CreditNotes/\(id)")
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("must be found") }
        #expect(harness.fake.stats.calls(tenant: tenant, endpoint: "CreditNotes/{id}") == 1)
    }

    /// One id Xero cannot take spoils a whole `IDs=` batch with 400: the client splits the batch
    /// until only that id fails, and every other id is fetched.
    @Test func a400BatchIsSplitDownToTheOneIdXeroRefuses() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID()
        let ids = (0..<8).map { _ in newID() }
        for id in ids { harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: id) }
        let bad = ids[5]
        harness.fake.fail(id: bad, status: 400, times: 100)
        let client = try staticClient(harness, tenants: [tenant])
        let refs = ids.map { harness.ref(tenant, "INVOICE", $0) }
        let outcomes = await client.fetch(refs)
        for (id, ref) in zip(ids, refs) where id != bad {
            guard case .found = outcomes[ref.key] else { throw Failure("\(id) must be found, got \(String(describing: outcomes[ref.key]))") }
        }
        guard case let .permanent(reason) = outcomes[refs[5].key] else { throw Failure("the bad id must be permanent") }
        #expect(reason.contains("400"))
        // 8 → 4 + 4 → 2 + 2 (only the half holding the bad id splits further) → 1 + 1.
        #expect(harness.fake.stats.calls(tenant: tenant, endpoint: "Invoices?IDs") == 7)
        #expect(await client.metrics().batchSplits == 3)
    }

    @Test func anArchivedContactIsARecordWithItsStatus() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), archived = newID(), active = newID()
        harness.fake.addContact(tenant: tenant, id: archived, status: "ARCHIVED")
        harness.fake.addContact(tenant: tenant, id: active, status: "ACTIVE")
        let client = try staticClient(harness, tenants: [tenant])
        let refs = [harness.ref(tenant, "CONTACT", archived), harness.ref(tenant, "CONTACT", active)]
        let outcomes = await client.fetch(refs)
        guard case let .found(bytes) = outcomes[refs[0].key] else { throw Failure("an archived contact must be found") }
        #expect(try JSONParser.parse(bytes)["ContactStatus"]?.stringValue == "ARCHIVED")
        guard case .found = outcomes[refs[1].key] else { throw Failure("the active contact must be found") }
        #expect(harness.fake.stats.calls(tenant: tenant, endpoint: "Contacts?IDs") == 1)
    }
}
