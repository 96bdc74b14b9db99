import Synchronization

/// The committed bytes of the segment files still on disk (headers and records; not the prepared
/// zero space after the committed end of the last segment), kept per segment.
///
/// Set by recovery, raised by the writer thread (a segment created, a batch synced), lowered by
/// `setConsumerPosition` when it deletes consumed segments. Bytes of a batch that is being written
/// are not counted until its sync returned. Because each segment's share is kept, deleting a
/// segment takes away exactly what was added for it: the total never drifts and never goes
/// below 0. Held in a `Mutex`, so any thread may read it.
final class LiveBytes: Sendable {
    private let state: Mutex<(total: Int, segments: [UInt64: Int])>

    /// `segments`: committed bytes of each kept segment, by first sequence.
    init(_ segments: [UInt64: Int]) {
        state = Mutex((segments.values.reduce(0, +), segments))
    }

    var value: Int { state.withLock { $0.total } }

    /// Counts `count` more committed bytes in the segment starting at `segment`.
    func add(_ count: Int, to segment: UInt64) {
        state.withLock {
            $0.total += count
            $0.segments[segment, default: 0] += count
        }
    }

    /// Stops counting the segment starting at `segment` (deleted): subtracts what was added for it.
    func remove(segment: UInt64) {
        state.withLock {
            guard let count = $0.segments.removeValue(forKey: segment) else { return }
            $0.total -= count
        }
    }
}
