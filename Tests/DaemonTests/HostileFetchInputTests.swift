import FakeXero
import Foundation
import ResourceFetch
import TestSupport
import Testing
import XeroTestSupport
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime
@testable import XeroAPI

/// Inputs a forged, odd or misconfigured event or secret may carry, and what the client must
/// make of them.
@Suite struct HostileFetchInputTests {
    let configuration: XeroAPIConfiguration = {
        var c = XeroAPIConfiguration()
        c.apiBaseURL = "https://api.xero.com"
        return c
    }()
    var origin: URLOrigin { URLOrigin(configuration.apiBaseURL)! }
    static let tenant = "fe79f7dd-5d9f-4f3a-9c4e-1b2c3d4e5f60"

    func resolve(_ category: String, _ id: String, _ url: String) -> ResourceAddress.Resolution {
        ResourceAddress.resolve(FetchRequest(key: ResourceKey(tenantID: "t1", category: category, resourceID: id), resourceURL: url),
                                configuration: configuration, origin: origin)
    }

    /// An event of a category the table does not know names a known collection: the record would
    /// be an invoice delivered as something else.
    @Test(arguments: ["Invoices", "INVOICES", "Contacts", "CreditNotes"])
    func anUnknownCategoryDoesNotReachIntoAKnownCollection(_ collection: String) {
        let id = newID()
        let resolution = resolve("MYSTERY", id, "https://api.xero.com/api.xro/2.0/\(collection)/\(id)")
        guard case .decided(.refused) = resolution else {
            Issue.record("MYSTERY naming \(collection) must be refused, got \(resolution)")
            return
        }
    }

    /// README: "no … percent-encoding"; the host is percent-encoded here.
    @Test func aPercentEncodedHostIsRefused() {
        let id = newID()
        let resolution = resolve("INVOICE", id, "https://api%2Exero%2Ecom/api.xro/2.0/Invoices/\(id)")
        guard case .decided(.refused) = resolution else {
            Issue.record("a percent-encoded host must be refused, got \(resolution)")
            return
        }
    }

    /// A listing URL with user info on the API host: check-config accepts it and prints the
    /// password; serve stops (blaming xero.apiBaseURL) and prints the password too.
    @Test func aTenantURLWithCredentialsIsNeitherShownNorFatal() {
        let value = "https://pandium:s3cretpw@api.xero.com/connections"
        let (scope, note) = TenantURLReading.read(environment: ["PAN_SEC_XERO_TENANT_URL": value], apiBaseURL: "https://api.xero.com")
        #expect(!"\(scope)".contains("s3cretpw"), "check-config shows: \(scope)")
        #expect(!(note ?? "").contains("s3cretpw"))
        do {
            _ = try XeroClient(configuration: configuration, tokens: StaticTokenProvider(source: .value(
                accessToken: "x", expiresIn: nil, scope: nil, origin: "o")), tenantScope: scope)
        } catch {
            Issue.record("the daemon must not stop on it; it says: \(error)")
        }
    }

    /// Values that say "only this tenant" or "list on the API host" as clearly as the accepted
    /// ones, but are read as "every tenant".
    @Test(arguments: [
        ("{\(tenant)}", "only"),
        ("https://api.xero.com:443/connections", "listed"),
        ("https://api.xero.com/connections/\(tenant)", "only"),
    ])
    func aRestrictionIsNotDroppedToAllTenants(_ value: String, _ expected: String) {
        let (scope, _) = TenantURLReading.read(environment: ["PAN_SEC_XERO_TENANT_URL": value], apiBaseURL: "https://api.xero.com")
        switch (scope, expected) {
        case (.only, "only"), (.listed, "listed"): break
        default: Issue.record("\(value): expected \(expected), got \(scope)")
        }
    }

    /// RFC 7519 §2: NumericDate may be non-integer.
    @Test func aFractionalExpIsStillTheExpiry() {
        func b64(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let token = b64(#"{"alg":"RS256"}"#) + "." + b64(#"{"exp":1900000000.5}"#) + ".sig"
        #expect(AccessTokenClaims.expiry(of: token) != nil)
    }

    /// A 400 that is not about one id (every id of the batch fails): splitting must not cost
    /// more calls than fetching each id once.
    @Test func aBatchRefusedWhateverItsIdsDoesNotCostTwiceItsSize() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID()
        let ids = (0..<16).map { _ in newID() }
        for id in ids {
            harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
            harness.fake.fail(id: id, status: 400, times: 1000)
        }
        let token = harness.fake.issueAccessToken(tenants: [tenant], lifetime: 100_000)
        let client = try harness.makeClient(StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")))
        let outcomes = await client.fetch(ids.map { harness.ref(tenant, "INVOICE", $0) })
        #expect(outcomes.values.allSatisfy { if case .permanent = $0 { true } else { false } })
        let calls = harness.fake.stats.calls(tenant: tenant, endpoint: "Invoices?IDs")
        #expect(calls <= ids.count + 1, "\(ids.count) ids cost \(calls) calls")
    }

    /// Both the environment's and the file's token are dead: the first fetch should pause (as
    /// the second does), not count a retry, and the file's refused token should not be sent again.
    @Test func aSecond401InOneFetchPausesAndThatTokenIsNotSentAgain() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let (provider, _) = try harness.environmentAndFileTokens(tenant: tenant, fileRefused: true)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        let first = try #require(await client.fetch([ref])[ref.key])
        guard case .paused = first else {
            Issue.record("two refused tokens must pause, got \(first)")
            _ = await client.fetch([ref])
            #expect(harness.fake.stats.unauthorized == 2, "a token Xero refused was sent again: \(harness.fake.stats.unauthorized) 401s")
            return
        }
    }

    /// A listing URL on the API host that does not list (GET /connections/{id} is not a
    /// listing): the restriction silently becomes "every tenant".
    @Test func aListingThatFailsDoesNotFetchEveryTenant() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (mine, _) = harness.seededTenant("Contacts")
        let (stranger, strangerID) = harness.seededTenant("Contacts")
        let value = harness.configuration.connectionsEndpoint + "/" + mine
        let (scope, _) = TenantURLReading.read(environment: ["PAN_SEC_XERO_TENANT_URL": value], apiBaseURL: harness.configuration.apiBaseURL)
        let token = harness.fake.issueAccessToken(tenants: [mine, stranger], lifetime: 100_000)
        let client = try XeroClient(configuration: harness.configuration, tokens: StaticTokenProvider(source: .value(
            accessToken: token, expiresIn: nil, scope: nil, origin: "test")), transport: harness.transport, tenantScope: scope)
        let ref = harness.ref(stranger, "CONTACT", strangerID)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case .refused = outcome else {
            Issue.record("\(value) names tenant \(mine) (read as \(scope)); another tenant's event must be refused, got \(outcome)")
            return
        }
    }

    /// An App Store answer without an id is not shown to be the event's subscription.
    @Test func aSubscriptionAnswerWithoutAnIdIsNotDelivered() {
        let body = Array(#"{"status":"ACTIVE","plans":[]}"#.utf8)
        let outcome = ResponseRecords.single(body, resource: ResourceKind.known["SUBSCRIPTION"]!, resourceId: newID())
        guard case .refused = outcome else {
            Issue.record("an answer without an id must not be delivered, got \(String(describing: outcome))")
            return
        }
    }
}
