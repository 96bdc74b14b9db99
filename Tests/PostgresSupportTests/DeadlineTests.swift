import PostgresSupport
import Testing

/// `Deadline.run`: the limit holds even when the body never ends, and a body that ends in time
/// is never reported as timed out.
@Suite struct DeadlineTests {
    @Test func aBodyThatEndsInTimeIsNeverReportedTimedOut() async throws {
        // Many at once, as a busy daemon's statements are: the body's end and the timer race.
        let timedOut = await withTaskGroup(of: Int.self) { group in
            for value in 0..<5000 {
                group.addTask {
                    do {
                        return try await Deadline.run(within: .seconds(120)) { value } == value ? 0 : 1
                    } catch {
                        return 1
                    }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(timedOut == 0)
    }

    @Test func aBodyThatNeverEndsIsLeftBehindAtTheLimit() async throws {
        let started = ContinuousClock.now
        await #expect(throws: Deadline.TimedOut.self) {
            try await Deadline.run(within: .milliseconds(200)) {
                // Ignores cancellation, as a query on a connection that never answers does.
                await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
            }
        }
        // Bounded only loosely: in the full run, tests that block the concurrency pool's threads
        // delay the timer by tens of seconds; a body that held the caller would never return.
        #expect(ContinuousClock.now - started < .seconds(600))
    }
}
