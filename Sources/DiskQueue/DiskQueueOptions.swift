/// Size limits, admission limits and test hooks for a `DiskQueue`.
package struct DiskQueueOptions: Sendable {
    /// A new segment is started when the next batch would take the active one past this size.
    /// A segment holding no records yet takes the batch whatever its size. Default 64 MiB.
    package var segmentBytes: Int
    /// Largest payload accepted; a larger one fails the whole call with `.recordTooLarge`
    /// before anything is written. Readers reject a stored length above it before allocating. Default 1 MiB.
    package var maxRecordBytes: Int
    /// Cap on the encoded bytes written and synced together. Whole `append` calls are never split,
    /// so one call bigger than this still goes alone. Default 1 MiB.
    package var maxBatchBytes: Int
    /// Failure injection at named I/O steps; `nil` in production.
    package var faults: FaultInjector?
    /// Free space (bytes available to this user, from `fstatvfs` on the queue directory) that
    /// writing a batch must leave on the file system. A batch that would leave less fails with
    /// `.diskFull` before anything is written, and the queue keeps working. 0 disables the check.
    /// Default 64 MiB.
    package var minFreeBytes: Int
    /// Bound on the committed bytes of the segment files still on disk (`DiskQueue.liveBytes`). A
    /// batch that would take them past it fails with `.queueFull` before anything is written;
    /// space comes back when `setConsumerPosition` deletes consumed segments. Prepared zero space
    /// is kept within it too, so the files never take more than this on disk. `nil` (the
    /// default): unbounded.
    package var maxQueueBytes: Int?
    /// Zero-filled space kept ahead of the committed end of the active segment, so that batches
    /// overwrite allocated blocks and their `fdatasync` carries no size change (growing a file
    /// makes the sync commit the new size too: a journal commit on ext4, markedly slower).
    ///
    /// When a batch would pass the prepared end, the writer first writes this many zero bytes
    /// (real writes, not `fallocate`: an unwritten extent still needs a metadata commit when it
    /// is first written) and syncs them once. Never past `segmentBytes` nor `maxQueueBytes`, and
    /// only from space the file system can spare: zeros leave `minFreeBytes` plus one more chunk
    /// free, so near a full disk batches grow the file as without preallocation. Space already
    /// prepared is the queue's own: batches go on filling it while the file system is full.
    ///
    /// Only the last segment ever ends in zeros: a full segment is cut to its committed end
    /// before the next one is created, and recovery reads a zero tail as the clean end.
    /// 0 disables it: every batch then grows the file. Default 1 MiB: preparing a chunk holds up
    /// the batches behind it for one write and sync of the chunk, and on a virtio disk 4 MiB took
    /// 11.5 ms where 1 MiB took 0.7 ms (so 4 MiB chunks set the receive path's p99 at 8–10 ms
    /// under load, 1 MiB chunks at 2.3–2.7 ms: bench/results/profile.md).
    package var preallocationBytes: Int

    /// The defaults suit the daemon: 64 MiB segments, 1 MiB records and batches, a 64 MiB
    /// free-space reserve, no size bound, no faults, 1 MiB of prepared space.
    package init(
        segmentBytes: Int = 64 << 20,
        maxRecordBytes: Int = 1 << 20,
        maxBatchBytes: Int = 1 << 20,
        faults: FaultInjector? = nil,
        minFreeBytes: Int = 64 << 20,
        maxQueueBytes: Int? = nil,
        preallocationBytes: Int = 1 << 20
    ) {
        self.segmentBytes = segmentBytes
        self.maxRecordBytes = maxRecordBytes
        self.maxBatchBytes = maxBatchBytes
        self.faults = faults
        self.minFreeBytes = minFreeBytes
        self.maxQueueBytes = maxQueueBytes
        self.preallocationBytes = preallocationBytes
    }

    /// Throws `.invalidOptions` for values the on-disk format cannot hold.
    func validate() throws(DiskQueueError) {
        guard segmentBytes > SegmentHeader.size else {
            throw .invalidOptions(reason: "segmentBytes must be larger than the \(SegmentHeader.size)-byte segment header")
        }
        guard maxRecordBytes > 0, UInt64(maxRecordBytes) <= UInt64(UInt32.max) else {
            throw .invalidOptions(reason: "maxRecordBytes must be between 1 and \(UInt32.max)")
        }
        guard maxBatchBytes > 0 else {
            throw .invalidOptions(reason: "maxBatchBytes must be positive")
        }
        guard minFreeBytes >= 0 else {
            throw .invalidOptions(reason: "minFreeBytes must be 0 (no reserve) or positive")
        }
        if let maxQueueBytes, maxQueueBytes <= 0 {
            throw .invalidOptions(reason: "maxQueueBytes must be positive, or nil for no bound")
        }
        guard preallocationBytes >= 0 else {
            throw .invalidOptions(reason: "preallocationBytes must be 0 (no preallocation) or positive")
        }
    }
}
