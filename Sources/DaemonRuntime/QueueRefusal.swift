import DaemonConfig
import DiskQueue
import Synchronization

/// Whether the queue's size bound (`queue.maxBytes`) is refusing events, for `/readyz`: set
/// when an append is refused with `.queueFull`, remembering the queue's live bytes then; over
/// at the next accepted append, or as soon as the consumer has deleted segments (live bytes
/// below what they were), since an event may fit again. Not ready meanwhile, because every
/// delivery would be answered 503.
package final class QueueRefusal: Sendable {
    private let refusedAt = Mutex<Int?>(nil)
    /// `queue.maxBytes`, if set.
    private let maxBytes: Int?
    /// Bytes one small delivery takes in the queue (a one-event record and its frame): with
    /// less room than this left under the bound, every delivery is refused.
    package static let smallestDelivery = 1024

    package init(maxBytes: Int? = nil) {
        self.maxBytes = maxBytes
    }

    package func refused(liveBytes: Int) { refusedAt.withLock { $0 = liveBytes } }

    package func accepted() { refusedAt.withLock { $0 = nil } }

    /// The `/readyz` problem while the bound refuses events; nil otherwise. A queue already at
    /// its bound is not ready before its first refusal too (after a restart with a full queue,
    /// `/readyz` once said ready while every delivery got 503).
    package func problem(liveBytes: Int) -> String? {
        refusedAt.withLock { at in
            if let maxBytes, liveBytes + Self.smallestDelivery > maxBytes {
                return "queue full: \(liveBytes) of \(maxBytes) bytes held, events are refused (503) until the worker delivers and frees space"
            }
            guard let refused = at else { return nil }
            guard liveBytes >= refused else {
                at = nil
                return nil
            }
            return "queue full: \(liveBytes) bytes held, events are refused (503) until the worker delivers and frees space"
        }
    }
}
