import FakeXero
import Foundation
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime
import XeroAPI
import XeroTestSupport

/// `PAN_SEC_XERO_TENANT_URL`: read, and the client keeps to what it says.
@Suite struct TenantScopeTests {
    static let tenant = "fe79f7dd-5d9f-4f3a-9c4e-1b2c3d4e5f60"

    @Test(arguments: [
        (tenant, "only"),
        ("https://api.xero.com/connections", "listed"),
        ("https://api.xero.com/connections?authEventId=0a1b2c3d-0000-4000-8000-000000000001", "listed"),
        ("https://api.xero.com/connections?tenantId=\(tenant)", "only"),
        ("https://app.pandium.io/xero/tenants/\(tenant)", "only"),
        ("https://app.pandium.io/xero/tenant?xero-tenant-id=\(tenant.uppercased())", "only"),
        ("https://evil.example/connections", "none"),
        ("HTTPS://API.XERO.COM/connections", "listed"),
        ("not a url", "none"),
        ("", "all"),
    ])
    func theVariableIsRead(_ value: String, _ expected: String) {
        let (scope, note) = TenantURLReading.read(environment: ["PAN_SEC_XERO_TENANT_URL": value], apiBaseURL: "https://api.xero.com")
        switch (scope, expected) {
        case let (.only(tenantId, origin), "only"):
            #expect(tenantId == Self.tenant && origin.contains("PAN_SEC_XERO_TENANT_URL"))
            #expect(note == nil)
        case let (.listed(url, _), "listed"):
            #expect(url == value && note == nil)
        case (.all, "all"), (.noTenant, "none"):
            #expect(note != nil, "an unusable value must be reported")
        default:
            Issue.record("\(value): expected \(expected), got \(scope)")
        }
        #expect(TenantURLReading.read(environment: [:], apiBaseURL: "https://api.xero.com") == (.all, nil))
    }

    @Test func checkConfigSaysWhichTenantsAreFetched() throws {
        var settings = XeroSettings()
        settings.auth.mode = .accessToken
        let secrets = try XeroSecrets.load(settings, environment: ["PAN_SEC_XERO_ACCESS_TOKEN": "t", "PAN_SEC_XERO_TENANT_URL": Self.tenant])
        #expect(secrets.tenantScope == .only(tenantId: Self.tenant, origin: "environment PAN_SEC_XERO_TENANT_URL"))
        let lines = settings.describe(secrets: secrets, stateDirectory: "/tmp/x")
        #expect(lines.contains { $0.hasPrefix("xero.auth.tenants: only tenant \(Self.tenant)") })
    }

    @Test func oneNamedTenantIsFetchedAndOthersAreRefusedWithoutACall() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (mine, id) = harness.seededTenant("Invoices")
        let (other, otherID) = harness.seededTenant("Invoices")
        let token = harness.fake.issueAccessToken(tenants: [mine, other], lifetime: 100_000)
        let client = try XeroClient(configuration: harness.configuration,
                                    tokens: StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")),
                                    transport: harness.transport,
                                    tenantScope: .only(tenantId: mine.uppercased(), origin: "environment PAN_SEC_XERO_TENANT_URL"))
        let refs = [harness.ref(mine, "INVOICE", id), harness.ref(other, "INVOICE", otherID)]
        let outcomes = await client.fetch(refs)
        guard case .found = outcomes[refs[0].key] else { throw Failure("the named tenant must be fetched") }
        guard case let .refused(reason) = outcomes[refs[1].key] else { throw Failure("another tenant must be refused") }
        #expect(reason.contains("PAN_SEC_XERO_TENANT_URL") && reason.contains(other))
        #expect(harness.fake.stats.calls(tenant: other, endpoint: "Invoices?IDs") == 0)
    }

    @Test func listedTenantsAreFetchedAndAnUnlistedOneIsRefusedAfterListingAgain() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (mine, id) = harness.seededTenant("Contacts")
        let (stranger, strangerID) = harness.seededTenant("Contacts")
        let token = harness.fake.issueAccessToken(tenants: [mine], lifetime: 100_000)
        let provider = StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test"))
        let url = harness.configuration.connectionsEndpoint
        func client(relist: Duration) throws -> XeroClient {
            try XeroClient(configuration: harness.configuration, tokens: provider, transport: harness.transport,
                           tenantScope: .listed(url: url, origin: "environment PAN_SEC_XERO_TENANT_URL"), relistInterval: relist)
        }
        let steady = try client(relist: .seconds(3600))
        let refs = [harness.ref(mine, "CONTACT", id), harness.ref(stranger, "CONTACT", strangerID)]
        let outcomes = await steady.fetch(refs)
        guard case .found = outcomes[refs[0].key] else { throw Failure("a listed tenant must be fetched") }
        guard case let .refused(reason) = outcomes[refs[1].key] else { throw Failure("an unlisted tenant must be refused") }
        #expect(reason.contains(stranger) && reason.contains("/connections"))
        #expect(harness.fake.stats.requestsByEndpoint["connections"] == 1)
        _ = await steady.fetch(refs)
        #expect(harness.fake.stats.requestsByEndpoint["connections"] == 1)  // not listed again within the interval
        #expect(harness.fake.stats.calls(tenant: stranger, endpoint: "Contacts?IDs") == 0)

        // With no interval, an unknown tenant makes it list again.
        let eager = try client(relist: .zero)
        _ = await eager.fetch([refs[1]])
        _ = await eager.fetch([refs[1]])
        #expect(harness.fake.stats.requestsByEndpoint["connections"] == 3)

        // A listing on another host is refused at construction: the token never goes there.
        #expect(throws: XeroAPIError.self) {
            try XeroClient(configuration: harness.configuration, tokens: provider, transport: harness.transport,
                           tenantScope: .listed(url: "http://127.0.0.1:1/connections", origin: "test"))
        }
    }
}
