import Foundation
import SystemSupport

/// The durable on-disk queue: an acknowledged record is on disk and survives a crash.
///
/// A record is acknowledged (its `append` completion gets `.success`) only after an `fdatasync`
/// that started after the record was written has returned 0. Appends from many threads are
/// group-committed: one dedicated writer thread takes everything that arrived while the previous
/// sync ran, writes it with one `pwrite` and syncs it with one `fdatasync`. Batches go into
/// zero-filled space prepared and synced ahead of time (`DiskQueueOptions.preallocationBytes`),
/// so most syncs carry no file size change.
///
/// The consumer side (`consumerPosition`, `setConsumerPosition`, `readRecords`) runs on the
/// caller's thread, off the writer thread: see `DiskQueue+Consumer.swift`.
///
/// Confinement: this object holds only immutable references. Mutable queue state lives in a
/// `CommitQueue` (guarded by its lock), the consumer position in a `ConsumerCursor` and the live
/// size in `LiveBytes` (each guarding itself); files, the active segment and the directory lock
/// are owned by the writer thread (`QueueWriter`) until `close()` finishes. Hence `@unchecked Sendable`.
package final class DiskQueue: @unchecked Sendable {
    /// What recovery found and changed when this queue was opened.
    package let recovery: RecoveryReport

    private let options: DiskQueueOptions
    let commits: CommitQueue
    let consumer: ConsumerCursor
    let reader: DurableRecordReader
    let live: LiveBytes
    private let observer = CommitObserver()
    private let writerThread: Thread

    /// Creates `directory` if missing, takes an exclusive non-blocking `flock` on `<directory>/lock`
    /// (writing our pid into it; a second opener gets `.locked` with that pid), then recovers the
    /// segments and the consumer position (see `RecoveryReport`) before any append can run.
    package init(directory: String, options: DiskQueueOptions = .init()) throws(DiskQueueError) {
        try options.validate()
        try QueueDirectory.create(directory)
        let lock = try DirectoryLock(directory: directory)
        let directoryFile = try system { try FileDescriptor.openDirectory(directory) }
        let outcome = try Recovery.run(directory: directory, directoryFile: directoryFile, maxRecordBytes: options.maxRecordBytes)
        let live = LiveBytes(outcome.liveSegments)
        let segments = SegmentWriter(
            directory: directory,
            directoryFile: directoryFile,
            active: outcome.active,
            nextSequence: outcome.report.nextSequence,
            options: options,
            live: live
        )
        let commits = CommitQueue(nextSequence: outcome.report.nextSequence)
        let observer = self.observer
        let writer = QueueWriter(commits: commits, segments: segments, lock: lock, maxBatchBytes: options.maxBatchBytes, observer: observer)
        self.recovery = outcome.report
        self.options = options
        self.commits = commits
        self.consumer = ConsumerCursor(directory: directory, position: outcome.report.consumerPosition, faults: options.faults, live: live)
        self.reader = DurableRecordReader(directory: directory, maxRecordBytes: options.maxRecordBytes)
        self.live = live
        // A dedicated thread, not a dispatch queue: it blocks in fdatasync, and must never take a
        // thread from the shared pools.
        self.writerThread = Thread { writer.run() }
        writerThread.name = "DiskQueue writer"
        writerThread.start()
    }

    deinit {
        close()
    }

    /// `body` runs after every committed batch (on the writer thread, after the batch's
    /// completions; it must not block): how the consumer learns of new records without polling.
    /// One observer; a later call replaces it.
    package func onCommit(_ body: @escaping @Sendable () -> Void) {
        observer.set(body)
    }

    /// Appends `payloads` as consecutive records (group commit).
    ///
    /// `completion` is called exactly once. For a batch that reaches the writer it runs on the
    /// writer thread, after the `fdatasync` covering these records returned 0, with the sequence
    /// numbers assigned to the payloads, in order. On any error nothing of this call is
    /// acknowledged. `.diskFull`, `.queueFull` and `.resourcesExhausted` fail only this batch:
    /// nothing of it was left on disk and later appends may succeed. Calls refused without I/O (`.recordTooLarge`, `.closed`, `.failed`) and
    /// an empty `payloads` (empty range) complete at once on the calling thread.
    /// Completions must not block: the next batch waits for them.
    package func append(_ payloads: [[UInt8]], completion: @escaping @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void) {
        var encodedBytes = 0
        for payload in payloads {
            guard payload.count <= options.maxRecordBytes else {
                completion(.failure(.recordTooLarge(size: payload.count, limit: options.maxRecordBytes)))
                return
            }
            encodedBytes += RecordCodec.encodedSize(payloadCount: payload.count)
        }
        if payloads.isEmpty {
            let next = commits.nextSequence
            completion(.success(next..<next))
            return
        }
        let pending = PendingAppend(payloads: payloads, encodedBytes: encodedBytes, completion: completion)
        if let refusal = commits.enqueue(pending) {
            completion(.failure(refusal))
        }
    }

    /// Blocking form of `append(_:completion:)` for tests and tools: returns once the records are
    /// durable. Must not be called from a completion (the writer thread would wait for itself).
    package func append(_ payloads: [[UInt8]]) throws(DiskQueueError) -> Range<UInt64> {
        precondition(Thread.current !== writerThread, "DiskQueue.append(_:) blocks; use append(_:completion:) inside a completion")
        let slot = ResultSlot<Result<Range<UInt64>, DiskQueueError>>()
        append(payloads) { result in
            slot.put(result)
        }
        return try slot.take().get()
    }

    /// True once a write, sync, segment creation or the sealing of a full segment failed (other
    /// than for a full disk or a shortage of descriptors or memory, see `.diskFull` and
    /// `.resourcesExhausted`); every later append fails with `.failed`. Reopening the directory
    /// recovers a valid prefix.
    package var isFailed: Bool { commits.isFailed }

    /// Durable work done since open.
    package var stats: DiskQueueStats { commits.stats }

    /// How long the writer has been writing and syncing its current batch; 0 while idle.
    package var writerBusyFor: Duration { .nanoseconds(Int64(min(commits.busyNanoseconds, UInt64(Int64.max)))) }

    /// Sequence number the next record gets when no other append is queued ahead of it
    /// (one past the last record this queue has written). Every record below it is durable.
    package var nextSequence: UInt64 { commits.nextSequence }

    /// Committed bytes of the segment files still on disk: from the oldest segment not deleted by
    /// `setConsumerPosition` to the committed end of the last one (headers and records). Sealed
    /// segments are exactly that size; the last one may be larger on disk by its prepared zero
    /// space (`DiskQueueOptions.preallocationBytes`), which is not counted here.
    /// `DiskQueueOptions.maxQueueBytes` bounds it (and keeps the prepared space within the bound too).
    package var liveBytes: Int { live.value }

    /// Completes everything already handed to `append` (durably or with an error), then closes the
    /// files and releases the lock. Idempotent; appends, `setConsumerPosition` and `readRecords`
    /// after it fail with `.closed` (a `setConsumerPosition` in progress finishes first).
    /// Called from a completion, it returns at once and the writer stops after the current batch.
    package func close() {
        consumer.close()
        commits.requestClose()
        if Thread.current === writerThread { return }
        commits.waitUntilFinished()
    }
}
