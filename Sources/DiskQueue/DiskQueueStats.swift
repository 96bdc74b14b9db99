/// Counters of durable work since the queue was opened.
public struct DiskQueueStats: Sendable, Equatable {
    /// Successful `fdatasync` calls that committed a batch. Fewer than appends means group commit batched them.
    public var syncs: UInt64
    /// Records made durable.
    public var records: UInt64
    /// Encoded record bytes (16-byte record headers plus payloads) made durable.
    public var bytes: UInt64
    /// Sum of the wall-clock durations of those `fdatasync` calls (monotonic clock), in nanoseconds.
    public var syncNanoseconds: UInt64
    /// Duration of the most recent of them, in nanoseconds; 0 before the first.
    public var lastSyncNanoseconds: UInt64
    /// Most records committed by one `fdatasync`.
    public var maxBatchRecords: UInt64
    /// Zero bytes written ahead of the committed end to prepare space
    /// (`DiskQueueOptions.preallocationBytes`), counted when the next batch commits.
    public var preparedBytes: UInt64
    /// `fdatasync` calls that made prepared space durable (not included in `syncs`). Much fewer
    /// than `syncs` means most batches overwrote prepared space instead of growing the file.
    public var prepareSyncs: UInt64
    /// Sum of the durations of those prepare syncs, in nanoseconds (not included in `syncNanoseconds`).
    public var prepareSyncNanoseconds: UInt64

    public init(
        syncs: UInt64 = 0,
        records: UInt64 = 0,
        bytes: UInt64 = 0,
        syncNanoseconds: UInt64 = 0,
        lastSyncNanoseconds: UInt64 = 0,
        maxBatchRecords: UInt64 = 0,
        preparedBytes: UInt64 = 0,
        prepareSyncs: UInt64 = 0,
        prepareSyncNanoseconds: UInt64 = 0
    ) {
        self.syncs = syncs
        self.records = records
        self.bytes = bytes
        self.syncNanoseconds = syncNanoseconds
        self.lastSyncNanoseconds = lastSyncNanoseconds
        self.maxBatchRecords = maxBatchRecords
        self.preparedBytes = preparedBytes
        self.prepareSyncs = prepareSyncs
        self.prepareSyncNanoseconds = prepareSyncNanoseconds
    }
}
