import ByteJSON
import FakeXero
import Foundation
import ResourceFetch
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// `XeroClient.fetch` against a live FakeXero.
@Suite struct FetchLiveTests {
    func staticClient(_ harness: Harness, tenants: [String]) throws -> XeroClient {
        let token = harness.fake.issueAccessToken(tenants: tenants, lifetime: 100_000)
        return try harness.makeClient(StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")))
    }

    @Test func recordsAreTheBytesXeroSentAndMissingIdsAreNotFound() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), a = newID(), b = newID(), missing = newID(), credit = newID()
        let odd = #"{"InvoiceID":"\#(a)" ,  "Total": 10.50, "Contact":{"Name":"Zoë \"Q\""},"LineItems":[{"Quantity":1.0000}]}"#
        harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: a, json: odd)
        harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: b)
        harness.fake.addRecord(tenant: tenant, collection: "CreditNotes", id: credit)
        let client = try staticClient(harness, tenants: [tenant])
        let refs = [harness.ref(tenant, "INVOICE", a), harness.ref(tenant, "invoice", b), harness.ref(tenant, "INVOICE", missing),
                    harness.ref(tenant, "CREDITNOTE", credit), harness.ref(tenant, "CREDITNOTE", missing)]
        let outcomes = await client.fetch(refs)
        // The element's bytes as Xero sent them: indented, CRLF; its values unchanged.
        guard case let .found(oddBytes) = outcomes[refs[0].key] else { throw Failure("a not found") }
        #expect(oddBytes.contains(0x0D) && oddBytes.contains(0x0A))
        #expect(String(decoding: JSONText.compacted(oddBytes), as: UTF8.self)
            == #"{"InvoiceID":"\#(a)","Total":10.50,"Contact":{"Name":"Zoë \"Q\""},"LineItems":[{"Quantity":1.0000}]}"#)
        guard case let .found(bytes) = outcomes[refs[1].key] else { throw Failure("b not found") }
        #expect(String(decoding: JSONText.compacted(bytes), as: UTF8.self).hasPrefix(#"{"Type":"ACCREC","InvoiceID":"\#(b)""#))
        #expect(outcomes[refs[2].key] == .notFound)
        guard case let .found(creditBytes) = outcomes[refs[3].key] else { throw Failure("credit note not found") }
        #expect(String(decoding: JSONText.compacted(creditBytes), as: UTF8.self).hasPrefix(#"{"CreditNoteID":"\#(credit)","CreditNoteNumber":"#))
        #expect(outcomes[refs[4].key] == .notFound)
        #expect(harness.fake.stats.calls(tenant: tenant, endpoint: "Invoices?IDs") == 1)
        #expect(harness.fake.stats.calls(tenant: tenant, endpoint: "CreditNotes/{id}") == 2)
        #expect(harness.fake.stats.xmlAnswers == 0)
        let metrics = await client.metrics()
        #expect(metrics.outcomes == ["found": 3, "notFound": 2])
        #expect(metrics.apiCalls == 3)
    }

    @Test func a401RenewsTheTokenOnceAndRetriesOnce() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let dir = harness.dir
        let (provider, _) = try harness.refreshProvider(tenants: [tenant], directory: dir)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        harness.fake.revokeAccessTokens()
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found after 401") }
        #expect(harness.fake.stats.unauthorized == 1)
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 2)
        #expect(await client.metrics().unauthorized == 1)
    }

    @Test func forbiddenIsADisconnectedTenantAndServerErrorsAreRetryable() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), gone = newID(), flaky = newID()
        harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: flaky)
        let client = try staticClient(harness, tenants: [tenant, gone])
        harness.fake.disconnect(tenant: gone)
        let forbidden = harness.ref(gone, "INVOICE", newID())
        guard case let .disconnected(reason) = try #require(await client.fetch([forbidden])[forbidden.key]) else {
            throw Failure("403 must be a disconnected tenant")
        }
        #expect(reason.contains("403"))

        harness.fake.fail(id: flaky, status: 503, times: 1)
        let ref = harness.ref(tenant, "INVOICE", flaky)
        guard case .retryable = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("5xx must be retryable") }
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("the retry must succeed") }
    }

    @Test func connectionErrorsAreRetryable() async throws {
        var configuration = XeroAPIConfiguration()
        configuration.apiBaseURL = "http://127.0.0.1:1"  // nothing listens on port 1: connection refused
        configuration.requestTimeout = .seconds(5)
        let provider = StaticTokenProvider(source: .value(accessToken: "t", expiresIn: nil, scope: nil, origin: "test"))
        let client = try XeroClient(configuration: configuration, tokens: provider)
        let ref = FetchRequest(key: ResourceKey(tenantID: newID(), category: "INVOICE", resourceID: newID()), resourceURL: "")
        guard case .retryable = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("expected retryable") }
    }

    @Test func aResourceURLOnAnotherHostIsRefusedWithoutAnyConnection() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let elsewhere = try CountingListener()
        let tenant = newID(), id = newID()
        let client = try staticClient(harness, tenants: [tenant])
        let stolen = FetchRequest(key: ResourceKey(tenantID: tenant, category: "CREDITNOTE", resourceID: id),
                                 resourceURL: "http://127.0.0.1:\(elsewhere.port)/api.xro/2.0/CreditNotes/\(id)")
        let batched = FetchRequest(key: ResourceKey(tenantID: tenant, category: "INVOICE", resourceID: newID()),
                                  resourceURL: "http://127.0.0.1:\(elsewhere.port)/api.xro/2.0/Invoices/x")
        let outcomes = await client.fetch([stolen, batched])
        guard case .refused = outcomes[stolen.key], case .refused = outcomes[batched.key] else { throw Failure("must be refused") }
        #expect(elsewhere.pendingConnections() == 0)
        #expect(harness.fake.stats.totalCalls == 0)
    }

    @Test func aRedirectToAnotherHostIsNotFollowed() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let elsewhere = try CountingListener()
        let tenant = newID(), id = newID()
        harness.fake.redirect(id: id, to: "http://127.0.0.1:\(elsewhere.port)/steal")
        let client = try staticClient(harness, tenants: [tenant])
        let ref = harness.ref(tenant, "CREDITNOTE", id)
        guard case let .permanent(reason) = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("expected permanent") }
        #expect(reason.contains("redirect"))
        #expect(elsewhere.pendingConnections() == 0)
    }
}
