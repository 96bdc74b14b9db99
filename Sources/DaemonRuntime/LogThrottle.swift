import DaemonConfig
import Synchronization

/// Bounds lines a hostile client can make the daemon log: at most `perWindow` lines of one kind
/// per window; the first line after a window that dropped some says how many (`suppressed`).
/// Metrics still count every event. Journald drops lines of a unit that logs too fast (10,000
/// per 30 s by default), and would drop the ones that matter with the rest.
package final class LogThrottle: Sendable {
    private struct Kind {
        package var windowStart: UInt64
        package var logged = 0
        package var suppressed = 0
    }

    private let perWindow: Int
    private let windowNanoseconds: UInt64
    private let kinds = Mutex<[String: Kind]>([:])

    package init(perWindow: Int = 20, window: Duration = .seconds(10)) {
        self.perWindow = perWindow
        self.windowNanoseconds = UInt64(window.components.seconds) * 1_000_000_000
            + UInt64(window.components.attoseconds / 1_000_000_000)
    }

    /// nil: do not log this one. Otherwise log it, with the count of lines of this kind dropped
    /// since the last logged one (0 when none).
    package func admit(_ kind: String, now: UInt64) -> Int? {
        kinds.withLock { kinds in
            var state = kinds[kind] ?? Kind(windowStart: now)
            var carried = 0
            if now &- state.windowStart >= windowNanoseconds {
                carried = state.suppressed
                state = Kind(windowStart: now)
            }
            defer { kinds[kind] = state }
            guard state.logged < perWindow else {
                state.suppressed += 1
                return nil
            }
            state.logged += 1
            return carried
        }
    }
}
