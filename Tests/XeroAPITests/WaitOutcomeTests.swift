import FakeXero
import Foundation
import ResourceFetch
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// Waits and pauses as the client reports them, and the rate limiter's state across restarts.
@Suite struct WaitOutcomeTests {
    /// The token endpoint answering 503 is a wait (no attempt), then the call goes through.
    @Test func identityOutageIsAWait() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (client, ref, _) = try harness.customConnection()
        harness.fake.failTokenRequests(status: 503, times: 1)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case .waiting = outcome else { throw Failure("expected a wait, got \(outcome)") }
        #expect(harness.fake.stats.failedTokenRequests == 1)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found after the outage") }
    }

    /// A billing client without `marketplace.billing` (invalid_scope) pauses SUBSCRIPTION fetches.
    @Test func billingTokenRefusedIsAPause() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), subscription = newID()
        harness.fake.registerClient(id: "no-store", secret: "s4", appStore: false)
        let org = StaticTokenProvider(source: .value(accessToken: harness.fake.issueAccessToken(tenants: [tenant]), expiresIn: nil,
                                                     scope: nil, origin: "test"))
        let billing = ClientCredentialsProvider(client: ClientCredentials(id: "no-store", secret: "s4"), scope: "marketplace.billing",
                                                identity: harness.identity)
        let ref = FetchRequest(key: ResourceKey(tenantID: newID(), category: "SUBSCRIPTION", resourceID: subscription),
                              resourceURL: "\(harness.configuration.apiBaseURL)/appstore/2.0/subscriptions/\(subscription)")
        let client = try harness.makeClient(org, billing: billing)
        guard case let .paused(reason) = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("expected paused") }
        #expect(reason.contains("invalid_scope"))
    }

    /// A used-up day and a day park are read back by a new limiter (a restart).
    @Test func dayCountsAndParksSurviveARestart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("xero-rate-limits.json")
        let limits = RateLimits(perDayPerTenant: 3)
        let first = await limiterWithUsedUpDay(tenant: "busy", perDay: 3, file: file)
        let parked = await first.record429(tenant: "parked", problem: "day", retryAfter: .seconds(3600))
        #expect(parked > .seconds(3500))
        await first.flush()

        let second = RateLimiter(limits: limits, stateFile: file)
        guard case let .deferred(retryAfter, reason) = await second.acquire(tenant: "busy") else {
            throw Failure("the day's three calls must be remembered")
        }
        #expect(reason.contains("daily limit"))
        #expect(retryAfter > .seconds(86_000))
        guard case let .deferred(parkedFor, _) = await second.acquire(tenant: "parked") else { throw Failure("the park must be remembered") }
        #expect(parkedFor > .seconds(3500) && parkedFor <= .seconds(3600))
        #expect(await second.acquire(tenant: "other") == .granted)

        // Calls older than a day are not taken back.
        let later = RateLimiter(limits: limits, stateFile: file, wallClock: { Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000 })
        #expect(await later.acquire(tenant: "busy") == .granted)
    }
}
