import Foundation

/// The hand-off between appending threads and the writer thread.
///
/// Every stored property is guarded by `condition`'s lock; that is what makes the
/// `@unchecked Sendable` sound. Appenders only enqueue under the lock and signal; the writer
/// takes whole batches under the lock and does all I/O and completions outside it.
final class CommitQueue: @unchecked Sendable {
    /// What the writer should do next.
    enum Work {
        /// Write, sync, then complete these appends.
        case commit([PendingAppend])
        /// Fail these appends without I/O: the queue failed before they were written.
        case reject([PendingAppend], DiskQueueError)
    }

    private let condition = NSCondition()
    private var pending: [PendingAppend] = []
    private var failureReason: String?
    private var closing = false
    private var finished = false
    private var counters = DiskQueueStats()
    private var next: UInt64

    init(nextSequence: UInt64) {
        next = nextSequence
    }

    var stats: DiskQueueStats { locked { counters } }
    var nextSequence: UInt64 { locked { next } }
    var isFailed: Bool { locked { failureReason != nil } }
    /// Monotonic time at which the writer took the batch it is working on; nil while idle.
    private var busySince: UInt64?

    /// How long the writer has been on its current batch (0 while idle): a write or fdatasync
    /// that hangs shows here, for a watchdog.
    var busyNanoseconds: UInt64 {
        locked { busySince.map { DispatchTime.now().uptimeNanoseconds &- $0 } ?? 0 }
    }

    /// Queues `append` for the writer, or returns why it is refused at once (`.closed`, `.failed`).
    func enqueue(_ append: PendingAppend) -> DiskQueueError? {
        locked {
            if closing { return .closed }
            if let failureReason { return .failed(reason: failureReason) }
            pending.append(append)
            // Broadcast, not signal: a thread in waitUntilFinished shares the condition.
            condition.broadcast()
            return nil
        }
    }

    /// Blocks the writer until there is work. Takes every pending append up to `maxBatchBytes` of
    /// encoded records (at least one append, however big). Returns nil once closing and drained.
    func nextWork(maxBatchBytes: Int) -> Work? {
        locked {
            while pending.isEmpty, !closing {
                condition.wait()
            }
            if pending.isEmpty { return nil }
            if let failureReason {
                defer { pending.removeAll() }
                return .reject(pending, .failed(reason: failureReason))
            }
            var bytes = pending[0].encodedBytes
            var count = 1
            while count < pending.count, bytes + pending[count].encodedBytes <= maxBatchBytes {
                bytes += pending[count].encodedBytes
                count += 1
            }
            busySince = DispatchTime.now().uptimeNanoseconds
            if count == pending.count {
                defer { pending.removeAll(keepingCapacity: true) }
                return .commit(pending)
            }
            defer { pending.removeFirst(count) }
            return .commit(Array(pending[..<count]))
        }
    }

    /// Called by the writer after a batch's fdatasync returned 0, before completing it.
    /// From then on `nextSequence` (the durable next sequence) covers the batch.
    func committed(_ commit: SegmentWriter.Commit, nextSequence: UInt64) {
        locked {
            busySince = nil
            counters.syncs += 1
            counters.records += UInt64(commit.records)
            counters.bytes += UInt64(commit.bytes)
            counters.syncNanoseconds += commit.syncNanoseconds
            counters.lastSyncNanoseconds = commit.syncNanoseconds
            counters.maxBatchRecords = max(counters.maxBatchRecords, UInt64(commit.records))
            counters.recordBatch(records: commit.records, syncNanoseconds: commit.syncNanoseconds)
            counters.preparedBytes += UInt64(commit.preparation.bytes)
            counters.prepareSyncs += UInt64(commit.preparation.syncs)
            counters.prepareSyncNanoseconds += commit.preparation.syncNanoseconds
            next = nextSequence
        }
    }

    /// Puts the queue in its failed state; every later append is refused with `.failed(reason)`.
    /// The current batch was refused without I/O (full disk, size bound); the writer is idle again.
    func refused() {
        locked { busySince = nil }
    }

    func fail(reason: String) {
        locked {
            busySince = nil
            if failureReason == nil { failureReason = reason }
        }
    }

    /// Refuses new appends from now on and wakes the writer so it drains and stops.
    func requestClose() {
        locked {
            closing = true
            condition.broadcast()
        }
    }

    /// Called by the writer as its last step, after files and the lock are released.
    func markFinished() {
        locked {
            finished = true
            condition.broadcast()
        }
    }

    /// Blocks until `markFinished()`.
    func waitUntilFinished() {
        locked {
            while !finished { condition.wait() }
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }
}
