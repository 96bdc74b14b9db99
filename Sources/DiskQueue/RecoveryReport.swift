/// What recovery found and changed when a `DiskQueue` was opened.
package struct RecoveryReport: Sendable, Equatable {
    /// Segment files kept (valid header, every record valid), those split off at damage included.
    package var segments: Int
    /// Whole valid records in the kept segments.
    package var records: Int
    /// Bytes cut from the tail of the last segment because they held a torn or invalid record.
    /// They were first copied to `<segment>.truncated-<offset>` beside it, never destroyed. The
    /// count runs to the end of the file, so it includes any prepared zero space after the
    /// damage (up to about `DiskQueueOptions.preallocationBytes`). A tail of zeros alone is prepared
    /// space, the clean end of the records: it is kept and not counted.
    package var truncatedBytes: Int
    /// Names (inside the queue directory) that segments were renamed to, such as
    /// `segment-00000000000000000001.log.bad`, when their header was damaged and no intact
    /// record followed it (otherwise the records are kept; see `damaged`).
    package var quarantinedFiles: [String]
    /// Sequence number the next appended record gets.
    package var nextSequence: UInt64
    /// Damaged records set aside by this recovery while the intact records around them were
    /// kept (see `Recovery`). The daemon logs each one as a warning. A torn tail of the last
    /// segment is not damage: it is counted in `truncatedBytes` only.
    package var damaged: [SetAsideDamage]
    /// Sequences from the consumer position up to `nextSequence` that no segment holds: records
    /// set aside by this or an earlier recovery (or by an older version, or removed by hand). No
    /// record will ever be read for them, so the consumer counts them as done
    /// (`DiskQueue.skippingMissing`). Derived at every open from the segment files themselves,
    /// which recovery rewrote durably, so the knowledge survives any number of restarts
    /// without a file of its own. Ascending, disjoint.
    package var missingSequences: [ClosedRange<UInt64>]
    /// Sealed segments (not the last) whose records end in zeros before the next segment's first
    /// sequence: the records in between were written and are gone, zeroed by a disk or file
    /// system that lost data it had acknowledged. The zeros are cut off; the lost sequences are
    /// in `missingSequences` as well, but this says where and how. Zeros after the last record
    /// of a sealed segment with nothing missing (a crash between a rollover and the cut) are cut
    /// without a word.
    package var zeroedTails: [ZeroedTail] = []
    /// The consumer position the queue opened with (`DiskQueue.consumerPosition`): the one stored
    /// in `<directory>/consumer` when that file is valid and the position lies between the
    /// earliest record on disk and `nextSequence`; otherwise the earliest record on disk
    /// (`nextSequence` when there is none).
    package var consumerPosition: UInt64
    /// True when the stored position was missing, torn, damaged or out of range while records
    /// were on disk, so `consumerPosition` fell back to the earliest record: records the consumer
    /// already processed will be delivered again (never skipped).
    package var consumerPositionReset: Bool

    package init(
        segments: Int,
        records: Int,
        truncatedBytes: Int,
        quarantinedFiles: [String],
        nextSequence: UInt64,
        damaged: [SetAsideDamage] = [],
        missingSequences: [ClosedRange<UInt64>] = [],
        consumerPosition: UInt64 = 1,
        consumerPositionReset: Bool = false
    ) {
        self.damaged = damaged
        self.missingSequences = missingSequences
        self.segments = segments
        self.records = records
        self.truncatedBytes = truncatedBytes
        self.quarantinedFiles = quarantinedFiles
        self.nextSequence = nextSequence
        self.consumerPosition = consumerPosition
        self.consumerPositionReset = consumerPositionReset
    }
}

/// Where a sealed segment's records gave way to zeros, and which records that lost.
package struct ZeroedTail: Sendable, Equatable {
    /// The segment's file name.
    package let segment: String
    /// Where the zeros begin, and how many bytes of zeros were cut.
    package let offset: Int
    package let bytes: Int
    /// The sequences that should have been there (up to the next segment's first).
    package let sequences: ClosedRange<UInt64>

    package init(segment: String, offset: Int, bytes: Int, sequences: ClosedRange<UInt64>) {
        self.segment = segment
        self.offset = offset
        self.bytes = bytes
        self.sequences = sequences
    }
}
