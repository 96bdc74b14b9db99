import Foundation
import Synchronization
import SystemSupport

/// The consumer position (sequence of the next record to deliver), its durable copy in
/// `<directory>/consumer`, and the deletion of segments the consumer is done with.
///
/// `set` runs on the calling thread, never on the writer thread, so a consumer's fsyncs never
/// delay a batch. `operation` is held for a whole `set` (and by `close`), so position files and
/// deletions never race each other. The position and the closed flag sit in a `Mutex`, so
/// reading them does not wait for a `set` in progress.
final class ConsumerCursor: Sendable {
    let directory: String
    private let faults: FaultInjector?
    private let live: LiveBytes
    private let operation = NSLock()
    private let state: Mutex<(position: UInt64, closed: Bool)>

    init(directory: String, position: UInt64, faults: FaultInjector?, live: LiveBytes) {
        self.directory = directory
        self.faults = faults
        self.live = live
        state = Mutex((position, false))
    }

    var position: UInt64 { state.withLock { $0.position } }

    /// Throws `.closed` once `close()` was called.
    func checkOpen() throws(DiskQueueError) {
        if state.withLock({ $0.closed }) { throw .closed }
    }

    /// Makes `next` the durable position, then deletes every segment (never the last one) whose
    /// records all lie below it. `next` must lie between the current position and `durableNext`.
    /// The position changes only once its file and the directory were synced. If a deletion
    /// fails, the new position is already in force and the error is thrown; the next `set`
    /// retries the deletion. If the file system is full, the segments are deleted first to make
    /// room, then the position file is written once more.
    func set(_ next: UInt64, durableNext: UInt64) throws(DiskQueueError) {
        operation.lock()
        defer { operation.unlock() }
        let (current, closed) = state.withLock { ($0.position, $0.closed) }
        guard !closed else { throw .closed }
        guard current <= next, next <= durableNext else {
            throw .invalidPosition(requested: next, allowed: current...max(current, durableNext))
        }
        do throws(DiskQueueError) {
            try ConsumerPositionFile.write(next, directory: directory, faults: faults)
        } catch where error.isOutOfSpace {
            // A full disk must not keep the consumer from freeing it. The segments below `next`
            // hold only records the consumer has handled, so deleting them before the position
            // is stored loses nothing: a crash in between makes recovery fall back to the
            // earliest record left (a redelivery, never a skip). Then one more try.
            try deleteSegments(before: next, durableNext: durableNext)
            try ConsumerPositionFile.write(next, directory: directory, faults: faults)
        }
        state.withLock { $0.position = next }
        try deleteSegments(before: next, durableNext: durableNext)
    }

    /// Refuses every later `set` and `checkOpen`; waits for a `set` in progress.
    func close() {
        operation.lock()
        defer { operation.unlock() }
        state.withLock { $0.closed = true }
    }

    /// Unlinks each segment whose records all lie below `position`, then syncs the directory.
    /// A segment is deleted only when the next one starts below `durableNext`: the writer has
    /// then committed records past it and never touches it again. A next segment starting at or
    /// above it may be one the writer is still creating, and if that fails for lack of space the
    /// writer goes on appending to this one. So the last segment is never deleted.
    private func deleteSegments(before position: UInt64, durableNext: UInt64) throws(DiskQueueError) {
        let names = try QueueDirectory.segments(in: directory)
        var deleted = false
        for (name, following) in zip(names, names.dropFirst())
        where following.firstSequence <= position && following.firstSequence < durableNext {
            try QueueDirectory.remove(QueueDirectory.path(directory, name.fileName))
            live.remove(segment: name.firstSequence)
            deleted = true
        }
        guard deleted else { return }
        let directoryFile = try system { try FileDescriptor.openDirectory(directory) }
        defer { directoryFile.close() }
        try system { try directoryFile.synchronizeDirectory() }
    }
}
