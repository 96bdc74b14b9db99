/// The consumer side of the queue: reading durable records and recording, durably, how far the
/// consumer got. All of it runs on the calling thread, never on the writer thread, and may be
/// called from any thread while appends continue.
extension DiskQueue {
    /// Sequence of the next record to deliver. Starts at the position recovery found
    /// (`RecoveryReport.consumerPosition`; 1 for a new queue) and moves only through
    /// `setConsumerPosition`. Every record below it may already be deleted.
    package var consumerPosition: UInt64 { consumer.position }

    /// Records that the consumer has handled every record below `next`.
    ///
    /// Requires `consumerPosition <= next <= nextSequence` (the durable next sequence), else
    /// throws `.invalidPosition` and changes nothing. Writes `<directory>/consumer` durably
    /// (`consumer.tmp`, fsync, rename, directory fsync, every return code checked); only then
    /// does `consumerPosition` become `next`. If that fails it throws and the old position stays
    /// in force, on disk and here. Then deletes every segment file whose records all lie below
    /// `next` and whose following segment already holds a durable record (so never the last
    /// segment) and fsyncs the directory; if that fails it throws with
    /// the new position already in force, and the next call retries the deletion. When the
    /// position file cannot be written for lack of space (ENOSPC, EDQUOT), the segments below
    /// `next` are deleted first to make room and the write is tried once more: those records
    /// were handled, so this can cause a redelivery after a crash but never a loss.
    ///
    /// Serialised internally: concurrent calls run one after the other. Appends are not delayed.
    package func setConsumerPosition(_ next: UInt64) throws(DiskQueueError) {
        try consumer.set(next, durableNext: commits.nextSequence)
    }

    /// Up to `maxCount` records with `sequence >= from`, in order, read from the segment files
    /// with `pread`. Only durable records are returned: those below `nextSequence` as it was
    /// when the call started, so never a record whose `fdatasync` has not returned. Records
    /// below `consumerPosition` may be missing (their segment deleted). An empty result means
    /// nothing durable at or after `from` yet. Throws `.corrupt` if committed bytes fail their
    /// checks, `.closed` after `close()`.
    package func readRecords(from: UInt64, maxCount: Int) throws(DiskQueueError) -> [QueueRecord] {
        try consumer.checkOpen()
        return try reader.records(from: from, maxCount: maxCount, limit: commits.nextSequence)
    }

    /// Sequences at or above the consumer position that no record will ever be read for: set
    /// aside by recovery, this time or an earlier one (`RecoveryReport.missingSequences`).
    /// Ascending, disjoint, all below `nextSequence`.
    package var missingSequences: [ClosedRange<UInt64>] { recovery.missingSequences }

    /// `sequence`, or when it lies in `missingSequences`, the first sequence after that range.
    /// A consumer moving its position over finished records moves it over these too (they count
    /// as done), so the position never waits for a record that is not there and the segments
    /// below it can be deleted.
    package func skippingMissing(_ sequence: UInt64) -> UInt64 {
        let ranges = recovery.missingSequences
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound < sequence { low = middle + 1 } else { high = middle }
        }
        guard low < ranges.count, ranges[low].contains(sequence) else { return sequence }
        return ranges[low].upperBound == UInt64.max ? sequence : ranges[low].upperBound + 1
    }
}
