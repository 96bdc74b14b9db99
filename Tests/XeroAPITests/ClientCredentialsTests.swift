import FakeXero
import Foundation
import ResourceFetch
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

@Suite struct ClientCredentialsTests {
    @Test func customConnectionTokenIsRenewedOnExpiry() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (client, ref, tenant) = try harness.customConnection()
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        #expect(harness.fake.stats.tokenGrants["client_credentials"] == 1)
        harness.clock.advance(seconds: 1800)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        #expect(harness.fake.stats.tokenGrants["client_credentials"] == 2)
        let connections = try await client.connections().get()
        #expect(connections.map(\.tenantId) == [tenant])
    }

    @Test func wrongSecretPauses() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let provider = ClientCredentialsProvider(client: ClientCredentials(id: Harness.clientId, secret: "wrong"), scope: nil,
                                                 identity: harness.identity)
        guard case let .paused(reason) = await provider.token() else { throw Failure("expected paused") }
        #expect(reason.contains("invalid_client"))
        #expect(!reason.contains("wrong"))
    }

    @Test func subscriptionsUseTheBillingTokenOrArePermanentWithoutOne() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let app = newID(), subscription = newID(), tenant = newID()
        harness.fake.registerClient(id: "store-app", secret: "s3", appStore: true)
        let body = #"{"id":"\#(subscription)","status":"ACTIVE","plans":[]}"#
        harness.fake.addSubscription(id: subscription, json: body)
        let org = StaticTokenProvider(source: .value(accessToken: harness.fake.issueAccessToken(tenants: [tenant]), expiresIn: nil,
                                                     scope: nil, origin: "test"))
        let billing = ClientCredentialsProvider(client: ClientCredentials(id: "store-app", secret: "s3"), scope: "marketplace.billing",
                                                identity: harness.identity)
        let ref = FetchRequest(key: ResourceKey(tenantID: app, category: "SUBSCRIPTION", resourceID: subscription),
                              resourceURL: "\(harness.configuration.apiBaseURL)/appstore/2.0/subscriptions/\(subscription)")
        let withBilling = try harness.makeClient(org, billing: billing)
        #expect(await withBilling.fetch([ref])[ref.key] == .found(Array(body.utf8)))
        let withoutBilling = try harness.makeClient(org)
        guard case let .permanent(reason) = try #require(await withoutBilling.fetch([ref])[ref.key]) else {
            throw Failure("expected permanent")
        }
        #expect(reason.contains("marketplace.billing"))
    }
}
