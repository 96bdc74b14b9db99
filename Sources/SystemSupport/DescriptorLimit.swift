#if canImport(Glibc)
import Glibc
#endif

/// The process's `RLIMIT_NOFILE`: how many descriptors it may have open (strictly, the lowest
/// descriptor number it may not get).
package struct DescriptorLimit: Sendable, Equatable, CustomStringConvertible {
    /// nil = unlimited.
    package var soft: UInt64?
    package var hard: UInt64?

    package static func current() -> DescriptorLimit {
        var value = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &value)
        return DescriptorLimit(value)
    }

    /// Raises the soft limit to the hard one (what a server that may hold many connections
    /// wants; the default soft limit of 1024 exists for programs that still use `select`).
    /// Returns the limits before and after; `after` equals `before` when the kernel refused.
    @discardableResult
    package static func raiseSoftToHard() -> (before: DescriptorLimit, after: DescriptorLimit) {
        var value = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &value)
        let before = DescriptorLimit(value)
        guard value.rlim_cur != value.rlim_max else { return (before, before) }
        value.rlim_cur = value.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &value) == 0 else { return (before, before) }
        return (before, current())
    }

    init(_ value: rlimit) {
        soft = value.rlim_cur == rlim_t.max ? nil : UInt64(value.rlim_cur)
        hard = value.rlim_max == rlim_t.max ? nil : UInt64(value.rlim_max)
    }

    package init(soft: UInt64?, hard: UInt64?) {
        self.soft = soft
        self.hard = hard
    }

    package var description: String {
        "\(soft.map(String.init) ?? "unlimited")/\(hard.map(String.init) ?? "unlimited")"
    }
}
