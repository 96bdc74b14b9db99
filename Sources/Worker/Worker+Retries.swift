/// What happens to events that were not delivered: a failed attempt counts towards
/// `maxAttempts`, a wait does not; both end at `maxAge`.
extension Worker {
    /// A failed attempt: counted, then backoff (or Xero's time); dead-lettered at `maxAttempts` or `maxAge`.
    func scheduleRetry(_ group: [QueuedItem], reason: String, after: Duration?, now current: Int64) async throws {
        for item in group {
            var state = retries[item.sequence] ?? RetryState(attempts: 0, firstAttempt: current, nextTry: 0, lastError: "", eventID: item.eventID)
            state.attempts += 1
            state.lastError = reason
            let age = Duration.milliseconds(current - state.firstAttempt)
            if state.attempts >= configuration.maxAttempts || age >= configuration.maxAge {
                try await bury(DeadLetter(item: item, attempts: state.attempts, firstAttempt: state.firstAttempt,
                                          deadAt: current, lastError: reason), sequence: item.sequence)
                continue
            }
            let delay = max(configuration.backoff.delay(afterAttempt: state.attempts, unit: random()), after ?? .zero)
            state.nextTry = current.adding(delay.milliseconds)
            retries[item.sequence] = state
            onEvent(.retrying(key: item.key, attempt: state.attempts, after: delay, reason: reason))
        }
    }

    /// A wait: the next try is set (Xero's time, else a capped backoff over the waits so far),
    /// the attempt count is not touched; the first try still starts the `maxAge` clock.
    func scheduleWait(_ group: [QueuedItem], reason: String, after: Duration?, now current: Int64) async throws {
        for item in group {
            var state = retries[item.sequence] ?? RetryState(attempts: 0, firstAttempt: current, nextTry: 0, lastError: "", eventID: item.eventID)
            state.lastError = reason
            state.waits = (state.waits ?? 0) + 1
            if Duration.milliseconds(current - state.firstAttempt) >= configuration.maxAge {
                try await bury(DeadLetter(item: item, attempts: state.attempts, firstAttempt: state.firstAttempt,
                                          deadAt: current, lastError: reason), sequence: item.sequence)
                continue
            }
            let delay = after ?? min(configuration.backoff.delay(afterAttempt: state.waits ?? 1, unit: random()), configuration.waitCap)
            // A wait whose next try is past `maxAge` ends at `maxAge` (the next try dead-letters it).
            let end = max(state.firstAttempt.adding(configuration.maxAge.milliseconds), current + 1)
            state.nextTry = min(current.adding(max(delay, .milliseconds(1)).milliseconds), end)
            retries[item.sequence] = state
            onEvent(.waiting(key: item.key, after: delay, reason: reason))
        }
    }
}
