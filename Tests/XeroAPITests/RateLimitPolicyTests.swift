import Testing
import XeroAPI
import XeroTestSupport

/// The policy with made-up instants: no test here waits.
@Suite struct RateLimitPolicyTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    @Test func atMostFiveInFlightPerTenant() {
        var policy = RateLimitPolicy(limits: RateLimits())
        for _ in 0..<5 { #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .proceed) }
        #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .waitForSlot)
        #expect(policy.tryAcquire(tenant: "b", now: at(0)) == .proceed)  // another tenant is not held up
        policy.release(tenant: "a", now: at(1))
        #expect(policy.tryAcquire(tenant: "A", now: at(1)) == .proceed)  // tenant ids ignore case
    }

    @Test func sixtyPerRollingMinuteCountedFromCompletion() {
        var policy = RateLimitPolicy(limits: RateLimits())
        for i in 0..<60 {
            #expect(policy.tryAcquire(tenant: "a", now: at(Double(i) * 0.1)) == .proceed)
            policy.release(tenant: "a", now: at(Double(i) * 0.1 + 0.05))
        }
        // The first call completed at 0.05 s, so the 61st may go at 60.05 s, not before.
        #expect(policy.tryAcquire(tenant: "a", now: at(10)) == .waitUntil(at(60.05)))
        #expect(policy.tryAcquire(tenant: "a", now: at(60.04)) == .waitUntil(at(60.05)))
        #expect(policy.tryAcquire(tenant: "a", now: at(60.05)) == .proceed)
        #expect(policy.tryAcquire(tenant: "b", now: at(10)) == .proceed)
    }

    @Test func callsInFlightCountTowardsTheMinute() {
        var policy = RateLimitPolicy(limits: RateLimits(concurrentPerTenant: 5, perMinutePerTenant: 3))
        for _ in 0..<3 { #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .proceed) }
        #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .waitForSlot)  // nothing completed yet
        policy.release(tenant: "a", now: at(2))
        #expect(policy.tryAcquire(tenant: "a", now: at(3)) == .waitUntil(at(62)))
    }

    @Test func dailyLimitDefersInsteadOfWaiting() {
        var policy = RateLimitPolicy(limits: RateLimits(perMinutePerTenant: 60, perDayPerTenant: 3))
        for i in 0..<3 {
            #expect(policy.tryAcquire(tenant: "a", now: at(Double(i) * 100)) == .proceed)
            policy.release(tenant: "a", now: at(Double(i) * 100 + 1))
        }
        guard case let .deferred(until, reason) = policy.tryAcquire(tenant: "a", now: at(400)) else {
            Issue.record("expected a deferral")
            return
        }
        #expect(until == at(1 + 86_400))
        #expect(reason.contains("daily limit"))
        #expect(policy.tryAcquire(tenant: "a", now: at(86_401)) == .proceed)
    }

    @Test func a429ParksOnlyThatTenantUntilRetryAfter() {
        var policy = RateLimitPolicy(limits: RateLimits())
        #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .proceed)
        policy.release(tenant: "a", now: at(1), headers: RateLimitHeaders(minuteRemaining: 10, problem: "minute", retryAfter: .seconds(7)))
        let until = policy.record429(tenant: "a", now: at(1), problem: "minute", retryAfter: .seconds(7))
        #expect(until == at(8))
        #expect(policy.parkedUntil(tenant: "a", now: at(2)) == at(8))
        guard case .deferred(at(8), _) = policy.tryAcquire(tenant: "a", now: at(2)) else {
            Issue.record("a parked tenant must be deferred")
            return
        }
        #expect(policy.tryAcquire(tenant: "b", now: at(2)) == .proceed)
        #expect(policy.tryAcquire(tenant: "a", now: at(8)) == .proceed)
    }

    @Test func dayProblemParksForTheRetryAfterHours() {
        var policy = RateLimitPolicy(limits: RateLimits())
        let until = policy.record429(tenant: "a", now: at(0), problem: "day", retryAfter: .seconds(66_975))
        #expect(until == at(66_975))
        guard case let .deferred(deferredUntil, reason) = policy.tryAcquire(tenant: "a", now: at(10)) else {
            Issue.record("expected a deferral")
            return
        }
        #expect(deferredUntil == at(66_975))
        #expect(reason.contains("day"))
        #expect(policy.tryAcquire(tenant: "b", now: at(10)) == .proceed)
    }

    @Test func appProblemParksEveryTenant() {
        var policy = RateLimitPolicy(limits: RateLimits())
        policy.record429(tenant: "a", now: at(0), problem: "appminute", retryAfter: .seconds(20))
        for tenant in ["a", "b", "c"] {
            guard case .deferred(at(20), _) = policy.tryAcquire(tenant: tenant, now: at(1)) else {
                Issue.record("the app park must hold back \(tenant)")
                return
            }
        }
        #expect(policy.tryAcquire(tenant: "b", now: at(20)) == .proceed)
    }

    @Test func zeroRemainingHeadersSlowDown() {
        var policy = RateLimitPolicy(limits: RateLimits())
        #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .proceed)
        policy.release(tenant: "a", now: at(1), headers: RateLimitHeaders(minuteRemaining: 0, dayRemaining: 100, appMinuteRemaining: 9000))
        // Xero says the minute is used up: hold back until our oldest counted call leaves it.
        #expect(policy.tryAcquire(tenant: "a", now: at(2)) == .waitUntil(at(61)))
        #expect(policy.tryAcquire(tenant: "b", now: at(2)) == .proceed)

        policy.release(tenant: "b", now: at(3), headers: RateLimitHeaders(minuteRemaining: 50, dayRemaining: 0))
        guard case .deferred = policy.tryAcquire(tenant: "b", now: at(4)) else {
            Issue.record("no calls left today must defer")
            return
        }
        policy.release(tenant: "c", now: at(5), headers: RateLimitHeaders(appMinuteRemaining: 0))
        #expect(policy.tryAcquire(tenant: "d", now: at(6)) == .waitUntil(at(61)))
    }

    @Test func appMinuteLimitAcrossTenants() {
        var policy = RateLimitPolicy(limits: RateLimits(perMinuteApp: 4))
        for tenant in ["a", "b", "c", "d"] {
            #expect(policy.tryAcquire(tenant: tenant, now: at(0)) == .proceed)
            policy.release(tenant: tenant, now: at(0.5))
        }
        #expect(policy.tryAcquire(tenant: "e", now: at(1)) == .waitUntil(at(60.5)))
    }

    @Test func longWaitsBecomeDeferrals() {
        var policy = RateLimitPolicy(limits: RateLimits(perMinutePerTenant: 1), maxWait: .seconds(5))
        #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .proceed)
        policy.release(tenant: "a", now: at(0))
        guard case .deferred(at(60), _) = policy.tryAcquire(tenant: "a", now: at(1)) else {
            Issue.record("a wait over maxWait must be deferred")
            return
        }
    }

    @Test func aCallThatNeverLeftDoesNotCount() {
        var policy = RateLimitPolicy(limits: RateLimits(perMinutePerTenant: 1))
        #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .proceed)
        policy.release(tenant: "a", now: at(0), reachedXero: false)
        #expect(policy.tryAcquire(tenant: "a", now: at(0)) == .proceed)
    }
}

@Suite struct RateLimitHeadersTests {
    @Test func headersAreReadWhateverTheirCase() {
        let response = InboundResponse(status: 429, headers: [
            (name: "x-minlimit-remaining", value: "0"), (name: "X-DayLimit-Remaining", value: " 4813"),
            (name: "X-APPMINLIMIT-REMAINING", value: "9998"), (name: "X-Rate-Limit-Problem", value: "Minute"),
            (name: "retry-after", value: "42"),
        ], body: [])
        let headers = RateLimitHeaders(response)
        #expect(headers == RateLimitHeaders(minuteRemaining: 0, dayRemaining: 4813, appMinuteRemaining: 9998,
                                            problem: "minute", retryAfter: .seconds(42)))
    }
}
