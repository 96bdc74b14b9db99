import DaemonConfig
import DiskQueue
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Test-only fault injection for the queue, from `XERO_WEBHOOKD_FAILPOINTS`.
///
/// The value is a comma-separated list of `point=action[@hit]`: `point` is a `FaultPoint`
/// (`beforeWrite`, `afterWriteBeforeSync`, `afterSyncBeforeAck`, `createSegment`,
/// `writeSegmentHeader`, `prepareSpace`, `writeConsumerPosition`), `action` is `crash` (SIGKILL
/// to this process: a crash at exactly that point), `error` (the step fails with EIO), `emfile`,
/// `enfile`, `enomem` or `enospc` (the step fails with that errno) or `hang` (the step never
/// returns), and `hit` is which occurrence of the point triggers it: `N` (default 1; later
/// occurrences pass) or `N-M` (occurrences N to M, so a shortage can last a while). Crash tests
/// use it to prove that every acknowledged event survives a crash at each point. Unset in
/// production.
package enum FailPoints {
    package static let environmentVariable = "XERO_WEBHOOKD_FAILPOINTS"

    package struct Rule: Equatable {
        package enum Action: String { case crash, error, emfile, enfile, enomem, enospc, hang }
        package let point: FaultPoint
        package let action: Action
        package let hits: ClosedRange<Int>
    }

    package static func parse(_ text: String) throws(ConfigError) -> [Rule] {
        try text.split(separator: ",").map { item throws(ConfigError) -> Rule in
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let point = FaultPoint(rawValue: String(parts[0]).trimmingSpaces) else {
                let names = FaultPoint.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigError(environmentVariable, "\"\(item)\": expected point=action[@hit] with point one of \(names)")
            }
            let actionParts = parts[1].split(separator: "@", maxSplits: 1)
            guard let action = Rule.Action(rawValue: String(actionParts[0]).trimmingSpaces) else {
                throw ConfigError(environmentVariable, "\"\(item)\": action must be crash, error, emfile, enfile, enomem, enospc or hang")
            }
            var hits = 1...1
            if actionParts.count == 2 {
                let bounds = actionParts[1].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { Int($0) }
                guard let first = bounds.first ?? nil, let last = bounds.last ?? nil, first >= 1, last >= first else {
                    throw ConfigError(environmentVariable, "\"\(item)\": hit must be a whole number from 1, or a range N-M of them")
                }
                hits = first...last
            }
            return Rule(point: point, action: action, hits: hits)
        }
    }

    /// The injector for `environment`, or nil when the variable is unset.
    package static func injector(environment: [String: String]) throws(ConfigError) -> FaultInjector? {
        guard let text = environment[environmentVariable], !text.isEmpty else { return nil }
        let rules = try parse(text)
        let hits = Mutex<[FaultPoint: Int]>([:])
        return FaultInjector { point in
            let count = hits.withLock { counts -> Int in
                counts[point, default: 0] += 1
                return counts[point]!
            }
            for rule in rules where rule.point == point && rule.hits.contains(count) {
                let code: Int32
                switch rule.action {
                case .crash:
                    kill(getpid(), SIGKILL)
                    continue
                case .hang:
                    // A write or sync that never returns (a dead disk): the writer thread blocks.
                    while true { pause() }
                case .error: code = EIO
                case .emfile: code = EMFILE
                case .enfile: code = ENFILE
                case .enomem: code = ENOMEM
                case .enospc: code = ENOSPC
                }
                throw SystemCallError(call: "failpoint \(point.rawValue)", errno: code)
            }
        }
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
