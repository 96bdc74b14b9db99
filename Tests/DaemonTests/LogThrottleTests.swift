import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

/// A hostile client causes a log line per request it gets rejected for; 30,000 503s in 20 s once
/// meant 30,000 lines. The throttle keeps a few per kind and window and says how many it dropped.
@Suite struct LogThrottleTests {
    private let second: UInt64 = 1_000_000_000

    @Test func keepsAFewLinesPerKindAndWindowAndCountsTheRest() {
        let throttle = LogThrottle(perWindow: 3, window: .seconds(10))
        let admitted = (0..<10).map { throttle.admit("rejected 503", now: 100 * second + UInt64($0)) }
        #expect(admitted == [0, 0, 0, nil, nil, nil, nil, nil, nil, nil])
        // Another kind has its own allowance.
        #expect(throttle.admit("timed out head", now: 100 * second) == 0)
        // The first line of the next window carries the count dropped in the last one.
        #expect(throttle.admit("rejected 503", now: 110 * second) == 7)
        #expect(throttle.admit("rejected 503", now: 110 * second + 1) == 0)
    }

    @Test func aQuietKindLogsEveryLine() {
        let throttle = LogThrottle(perWindow: 2, window: .seconds(10))
        for n in 0..<5 {
            #expect(throttle.admit("tls failed", now: UInt64(n) * 11 * second) == 0)
        }
    }

    /// What `log.format=json` writes as a number: canonical decimal integers only.
    @Test func onlyCanonicalIntegersBecomeJSONNumbers() {
        for number in ["0", "7", "401", "-3", "123456789012345"] { #expect(StderrLogHandler.isPlainNumber(number), "\(number)") }
        for text in ["", "-", "007", "1.5", "1e3", "+1", "1234567890123456", "4a7c", " 1", "١٢"] {
            #expect(!StderrLogHandler.isPlainNumber(text), "\(text)")
        }
    }
}
