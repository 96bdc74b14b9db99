import Synchronization

/// The size in bytes of the segment files still on disk, from the oldest one not deleted yet to
/// the committed end of the last one.
///
/// Set by recovery, raised by the writer thread (a segment created, a batch synced), lowered by
/// `setConsumerPosition` when it deletes consumed segments. Held in a `Mutex`, so any thread may
/// read it. Bytes of a batch that is being written are not counted until its sync returned.
final class LiveBytes: Sendable {
    private let bytes: Mutex<Int>

    init(_ initial: Int) {
        bytes = Mutex(initial)
    }

    var value: Int { bytes.withLock { $0 } }

    func add(_ count: Int) {
        bytes.withLock { $0 += count }
    }

    func subtract(_ count: Int) {
        bytes.withLock { $0 = max(0, $0 - count) }
    }
}
