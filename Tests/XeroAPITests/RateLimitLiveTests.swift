import FakeXero
import Foundation
import ResourceFetch
import Testing
import XeroAPI
import XeroTestSupport

/// Parking after a 429, against a live FakeXero.
@Suite struct RateLimitLiveTests {
    @Test func a429ParksOnlyThatTenantAndDayParksForTheRetryAfter() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let busy = newID(), calm = newID(), daily = newID()
        let token = harness.fake.issueAccessToken(tenants: [busy, calm, daily], lifetime: 100_000)
        let client = try harness.makeClient(StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")))
        func notes(_ tenant: String, _ count: Int) -> [FetchRequest] {
            (0..<count).map { _ in
                let id = newID()
                harness.fake.addRecord(tenant: tenant, collection: "CreditNotes", id: id)
                return harness.ref(tenant, "CREDITNOTE", id)
            }
        }
        // Xero answers the busy tenant's next call with a minute 429 and Retry-After: 30.
        harness.fake.force429(tenant: busy, problem: "minute", retryAfter: 30)
        let busyRefs = notes(busy, 1), calmRefs = notes(calm, 2)
        let first = await client.fetch(busyRefs + calmRefs)
        guard case let .waiting(_, parkedFor) = first[busyRefs[0].key] else { throw Failure("a 429 must be a wait") }
        #expect(parkedFor.map { $0 > .seconds(28) && $0 <= .seconds(30) } == true)
        #expect(calmRefs.allSatisfy { if case .found = first[$0.key] { true } else { false } })
        #expect(harness.fake.stats.tooManyRequestsByProblem == ["minute": 1])

        // Parked: the busy tenant's next call is not sent; the calm tenant keeps flowing.
        let again = notes(busy, 1) + notes(calm, 1)
        let second = await client.fetch(again)
        guard case let .waiting(reason, retryAfter) = second[again[0].key] else { throw Failure("busy tenant must be parked") }
        #expect(reason.contains("minute"))
        #expect((retryAfter ?? .zero) > .zero)
        guard case .found = second[again[1].key] else { throw Failure("calm tenant must flow") }
        #expect(harness.fake.stats.tooManyRequests == 1)

        // A day 429 parks for its Retry-After (hours) and does not burn further calls.
        harness.fake.force429(tenant: daily, problem: "day", retryAfter: 66_975)
        let day = notes(daily, 1)
        guard case let .waiting(_, dayRetry) = await client.fetch(day)[day[0].key] else { throw Failure("expected a wait") }
        #expect(dayRetry.map { $0 > .seconds(66_000) && $0 <= .seconds(66_975) } == true)
        let dayAgain = notes(daily, 1)
        guard case let .waiting(_, stillParked) = await client.fetch(dayAgain)[dayAgain[0].key] else { throw Failure("expected a wait") }
        #expect(stillParked.map { $0 > .seconds(66_000) } == true)
        #expect(harness.fake.stats.tooManyRequestsByProblem["day"] == 1)
        #expect(harness.fake.stats.calls(tenant: daily, endpoint: "CreditNotes/{id}") == 0)
        let metrics = await client.metrics()
        #expect(metrics.rateLimited == 2)
        #expect(metrics.parkedTenants == 2)
    }
}
