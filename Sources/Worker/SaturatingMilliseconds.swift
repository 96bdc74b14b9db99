/// Millisecond arithmetic of the worker's clock (milliseconds since the epoch), saturating
/// instead of trapping on overflow.
extension Duration {
    /// Whole milliseconds, saturating at `Int64.max`/`Int64.min` instead of overflowing.
    var milliseconds: Int64 {
        let (seconds, overflow) = components.seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return components.seconds < 0 ? .min : .max }
        let (sum, overflowed) = seconds.addingReportingOverflow(components.attoseconds / 1_000_000_000_000_000)
        return overflowed ? (seconds < 0 ? .min : .max) : sum
    }
}

extension Int64 {
    /// `self + other`, saturating instead of overflowing.
    func adding(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other < 0 ? .min : .max) : sum
    }
}
