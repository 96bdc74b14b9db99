/// Exponential backoff with full jitter: attempt n waits a random time in
/// [base·2^(n-1) / 2, base·2^(n-1)], capped at `cap`.
package struct Backoff: Sendable, Equatable {
    package var base: Duration = .seconds(5)
    package var cap: Duration = .seconds(15 * 60)

    package init(base: Duration = .seconds(5), cap: Duration = .seconds(15 * 60)) {
        self.base = base
        self.cap = cap
    }

    /// The delay before attempt `attempt + 1`, given `attempt` failures so far (≥ 1); `unit` is a
    /// random number in [0, 1).
    package func delay(afterAttempt attempt: Int, unit: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let full = min(base * (1 << exponent), cap)
        let half = full / 2
        return half + half * unit
    }
}
