import FakeXero
import Foundation
import Testing
import XeroAPI
import XeroTestSupport

@Suite struct ConcurrencyLiveTests {
    @Test func oneTenantNeverHasMoreThanFiveCallsInProgress() async throws {
        var options = FakeXeroOptions()
        options.responseDelay = .milliseconds(100)
        let harness = try Harness(options: options)
        defer { harness.stop() }
        let tenant = newID()
        let refs = (0..<30).map { _ in
            let id = newID()
            harness.fake.addRecord(tenant: tenant, collection: "CreditNotes", id: id)
            return harness.ref(tenant, "CREDITNOTE", id)
        }
        let token = harness.fake.issueAccessToken(tenants: [tenant], lifetime: 100_000)
        let client = try harness.makeClient(StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")))
        let outcomes = await client.fetch(refs)
        #expect(outcomes.values.allSatisfy { if case .found = $0 { true } else { false } })
        // Thirty calls were ready at once; the fake saw exactly five at a time, never six.
        #expect(harness.fake.stats.maxInFlightByTenant[tenant] == 5)
        #expect(harness.fake.stats.tooManyRequests == 0)
    }
}
