import Foundation
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// xero-rate-limits.json read back when the wall clock is not where it was when it was written.
@Suite struct RateLimitClockTests {
    static let year: Int64 = 365 * 86_400_000

    /// A 60 s minute park saved, then the daemon starts with the wall clock a year behind (a
    /// machine without a working RTC, before NTP): the tenant must not be parked for a year.
    @Test func aParkIsNotStretchedByAClockThatStepsBack() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("xero-rate-limits.json")
        let first = RateLimiter(limits: RateLimits(), stateFile: file)
        _ = await first.record429(tenant: "t", problem: "minute", retryAfter: .seconds(60))
        await first.flush()

        let behind = RateLimiter(limits: RateLimits(), stateFile: file,
                                 wallClock: { Int64(Date().timeIntervalSince1970 * 1000) - Self.year })
        guard case let .deferred(retryAfter, _) = await behind.acquire(tenant: "t") else { return }
        #expect(retryAfter <= .seconds(60), "parked for \(retryAfter)")
    }

    /// The same for the day's calls: a used-up day, read back with the clock a month behind,
    /// must not block the tenant for a month and a day.
    @Test func theDaysCallsAreNotStretchedByAClockThatStepsBack() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("xero-rate-limits.json")
        let limits = RateLimits(perDayPerTenant: 3)
        let first = await limiterWithUsedUpDay(tenant: "busy", perDay: 3, file: file)
        await first.flush()

        let behind = RateLimiter(limits: limits, stateFile: file,
                                 wallClock: { Int64(Date().timeIntervalSince1970 * 1000) - 30 * 86_400_000 })
        guard case let .deferred(retryAfter, _) = await behind.acquire(tenant: "busy") else { return }
        #expect(retryAfter <= .seconds(86_400 + 60), "blocked for \(retryAfter)")
    }

    /// A hostile or damaged file with a park in the year 9999 must not park a tenant forever.
    @Test func aParkFarInTheFutureIsBounded() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("xero-rate-limits.json")
        try Data(#"{"tenants":{"t":{"calls":[],"parkedUntil":253402300799000}}}"#.utf8).write(to: URL(fileURLWithPath: file))
        let limiter = RateLimiter(limits: RateLimits(), stateFile: file)
        guard case let .deferred(retryAfter, _) = await limiter.acquire(tenant: "t") else { return }
        #expect(retryAfter <= .seconds(2 * 86_400), "parked for \(retryAfter)")
    }
}

/// Retry-After values no real wait needs are capped when parsed.
@Suite struct RetryAfterParsingTests {
    func parsed(_ value: String) -> Duration? {
        RateLimitHeaders(InboundResponse(status: 429, headers: [(name: "Retry-After", value: value)], body: [])).retryAfter
    }

    @Test func hugeValuesAreCapped() {
        #expect(parsed("30") == .seconds(30))
        #expect(parsed("10000000000000000") == RateLimitHeaders.maxRetryAfter)
        #expect(parsed("99999999999999999999999999") == RateLimitHeaders.maxRetryAfter)
        #expect(RateLimitHeaders.maxRetryAfter <= .seconds(7 * 86_400))
        #expect(parsed("-1") == nil)
        #expect(parsed("soon") == nil)
    }
}
