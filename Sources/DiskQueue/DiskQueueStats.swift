/// Counters of durable work since the queue was opened.
package struct DiskQueueStats: Sendable, Equatable {
    /// Successful `fdatasync` calls that committed a batch. Fewer than appends means group commit batched them.
    package var syncs: UInt64
    /// Records made durable.
    package var records: UInt64
    /// Encoded record bytes (16-byte record headers plus payloads) made durable.
    package var bytes: UInt64
    /// Sum of the wall-clock durations of those `fdatasync` calls (monotonic clock), in nanoseconds.
    package var syncNanoseconds: UInt64
    /// Duration of the most recent of them, in nanoseconds; 0 before the first.
    package var lastSyncNanoseconds: UInt64
    /// Most records committed by one `fdatasync`.
    package var maxBatchRecords: UInt64
    /// Zero bytes written ahead of the committed end to prepare space
    /// (`DiskQueueOptions.preallocationBytes`), counted when the next batch commits.
    package var preparedBytes: UInt64
    /// `fdatasync` calls that made prepared space durable (not included in `syncs`). Much fewer
    /// than `syncs` means most batches overwrote prepared space instead of growing the file.
    package var prepareSyncs: UInt64
    /// Sum of the durations of those prepare syncs, in nanoseconds (not included in `syncNanoseconds`).
    package var prepareSyncNanoseconds: UInt64
    /// Batch `fdatasync` durations per bucket of `syncSecondsBounds` (upper bounds, inclusive),
    /// plus a last bucket for longer ones. Not cumulative.
    package var syncHistogram: [UInt64] = Array(repeating: 0, count: DiskQueueStats.syncSecondsBounds.count + 1)
    /// Records per committed batch per bucket of `batchRecordsBounds`, plus a last bucket for more.
    package var batchHistogram: [UInt64] = Array(repeating: 0, count: DiskQueueStats.batchRecordsBounds.count + 1)

    package static let syncSecondsBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    package static let batchRecordsBounds: [UInt64] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]

    /// Counts one committed batch in the histograms.
    mutating func recordBatch(records: Int, syncNanoseconds: UInt64) {
        let seconds = Double(syncNanoseconds) / 1e9
        syncHistogram[Self.syncSecondsBounds.firstIndex { seconds <= $0 } ?? Self.syncSecondsBounds.count] += 1
        batchHistogram[Self.batchRecordsBounds.firstIndex { UInt64(records) <= $0 } ?? Self.batchRecordsBounds.count] += 1
    }

    package init(
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
