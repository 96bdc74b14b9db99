import Glibc
import SystemSupport

/// Brings a queue directory to a state where every kept segment is valid, before any append.
///
/// - Every segment's header and records are checked (`SegmentScanner`).
/// - Zeros after the last valid record are prepared space (`DiskQueueOptions.preallocationBytes`),
///   the clean end of the records, not damage: only when EVERY byte from the first invalid
///   record offset to the end of the file is zero. A single non-zero byte there (a torn record
///   followed by zeros, say) makes the whole tail damage, handled as below.
///   - In the last segment the zeros stay; the writer resumes at the first of them.
///   - In a sealed segment (the writer cuts prepared space before a roll-over, so only an
///     interrupted or older writer leaves one) they are cut off (`ftruncate` + `fsync`), so
///     sealed segments are exact. The segment is kept, not quarantined: its records are valid,
///     and setting it aside would withhold them from the consumer.
///   Zeros are not data: they are never set aside nor counted in `truncatedBytes`.
/// - Damage is salvaged around (`Recovery+Salvage.swift`): after an invalid record, the bytes are
///   searched byte by byte for the next whole record whose checksum verifies and whose sequence
///   lies above the last good one (and below the next segment's first). When one is found, the
///   bytes in between are copied to `<name>.damaged-<offset>` and the segment is SPLIT there:
///   the records from the one found on go to a new segment file named after its sequence, and
///   the damaged segment is cut just before the damage (or removed, when its header was the
///   damage). Every intact record stays readable, in order; only the damaged one is set aside
///   and reported (`RecoveryReport.damaged`). A split needs no change to the format or to any
///   reader: each segment still holds consecutive sequences, and a gap between segments is
///   something every reader already steps over. (An index of byte ranges to skip would have
///   left the damaged bytes in place, but every reader would have had to consult it, and it
///   would be one more file to keep consistent with the segments.) The sequences such a gap
///   leaves are reported as `RecoveryReport.missingSequences` at every open, derived from the
///   segments themselves, and the consumer counts them as done.
///   In the last segment a torn batch whose later blocks reached the disk before an earlier one
///   looks the same: its later whole records are kept (never acknowledged, so at most a
///   duplicate after the sender's retry) and the torn one is reported as damage.
/// - A sealed segment whose damage runs to its end: the damaged tail is copied to
///   `<name>.damaged-<offset>` and cut off, and reported. A bad header with no intact record
///   after it: the file is renamed to `<name>.bad` and reported.
/// - The last segment's tail from the first incomplete or invalid record, when no intact record
///   follows it, is a torn write: copied to
///   `<name>.truncated-<offset>`, synced, and only then cut off with `ftruncate` + `fsync`. The
///   copy is the whole tail, prepared zeros after the damage included.
/// - A zero-length last segment (creation interrupted before its header) is removed.
/// - A last segment the writer will not append to (see `run`) is sealed: its zeros are cut off.
///
/// Idempotent: each step leaves a state the next run accepts as is, so a crash during recovery
/// followed by another recovery ends in the same segments, records and next sequence. A split
/// writes the copy of the damaged bytes (synced), then the new segment (`.tmp`, synced, renamed,
/// directory synced), and only then cuts or removes the damaged segment; a run interrupted
/// anywhere finds the same damage again, reuses the identical copy and new segment, and goes on.
///
/// Sequence numbers are idempotency keys downstream, so they are never handed out twice: the
/// next sequence also stays above every record with a valid checksum in the set-aside files
/// (`.bad`, `.truncated-`, `.damaged-`, salvaged or not) that are still in the directory. Those
/// are read at every open; move them out of the queue directory once inspected (`queue salvage`
/// queues again what still decodes in them).
///
/// The consumer position is read last (see `ConsumerPositionFile.recover`), once the records on
/// disk are known.
///
/// Runs on the thread calling `DiskQueue.init`, which holds the directory lock.
struct Recovery {
    /// What recovery leaves for the writer.
    struct Outcome {
        var report: RecoveryReport
        /// The last segment, kept open for appending, when appending may continue in it.
        var active: ActiveSegment?
        /// Committed bytes (header and valid records, no prepared zeros) of each kept segment,
        /// by first sequence.
        var liveSegments: [UInt64: Int]
    }

    /// What checking one segment led to.
    enum Step {
        /// Kept; for the last segment, open for appending with its next sequence.
        case kept((segment: ActiveSegment, next: UInt64)?)
        /// Damage was set aside and the records after it moved to the segment `into`.
        case split(into: SegmentName)
        /// The file was replaced (its header was the damage): check it again.
        case again
    }

    let directory: String
    let directoryFile: FileDescriptor
    let maxRecordBytes: Int
    var report = RecoveryReport(segments: 0, records: 0, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 1)
    var liveSegments: [UInt64: Int] = [:]
    /// Sequence of the first record in the kept segments.
    var earliestRecord: UInt64?
    /// The sequences each kept segment holds, in order.
    var held: [ClosedRange<UInt64>] = []

    static func run(directory: String, directoryFile: FileDescriptor, maxRecordBytes: Int) throws(DiskQueueError) -> Outcome {
        var recovery = Recovery(directory: directory, directoryFile: directoryFile, maxRecordBytes: maxRecordBytes)
        return try recovery.run()
    }

    private init(directory: String, directoryFile: FileDescriptor, maxRecordBytes: Int) {
        self.directory = directory
        self.directoryFile = directoryFile
        self.maxRecordBytes = maxRecordBytes
    }

    private mutating func run() throws(DiskQueueError) -> Outcome {
        var names = try QueueDirectory.segments(in: directory)
        var last: (segment: ActiveSegment, next: UInt64)?
        var index = 0
        while index < names.count {
            let following = index + 1 < names.count ? names[index + 1].firstSequence : nil
            switch try recover(names[index], following: following) {
            case let .kept(active):
                last = active
                index += 1
            case let .split(into: part):
                // The part with the records after the damage is checked next, like any segment.
                if !names.contains(part) { names.insert(part, at: index + 1) }
                last = nil
                index += 1
            case .again:
                break
            }
        }
        if let setAside = try highestSetAsideSequence() {
            report.nextSequence = max(report.nextSequence, setAside + 1)
        }
        // Appending continues in the last segment only if its next record is the queue's next
        // sequence (a record set aside may have raised it); otherwise the writer starts a new one.
        var active: ActiveSegment?
        if let last, last.next == report.nextSequence {
            active = last.segment
            // This segment's last writer may have crashed before syncing it (or its prepared space).
            try system { try last.segment.file.synchronize() }
        } else if let last, last.segment.preparedBytes > 0 {
            // It becomes a sealed segment: cut to its exact size before the writer creates the next one.
            try system { try last.segment.file.truncate(to: last.segment.end) }
            try system { try last.segment.file.synchronize() }
        }
        let consumer = try ConsumerPositionFile.recover(directory: directory, earliestRecord: earliestRecord, nextSequence: report.nextSequence)
        report.consumerPosition = consumer.position
        report.consumerPositionReset = consumer.reset
        report.missingSequences = Self.missing(held: held, nextSequence: report.nextSequence, from: consumer.position)
        try system { try directoryFile.synchronizeDirectory() }
        return Outcome(report: report, active: active, liveSegments: liveSegments)
    }

    /// Checks one segment (the last one when `following`, the next segment's first sequence, is
    /// nil). A kept last segment comes back open for appending with the sequence its next record
    /// would carry (and its prepared zeros, if any).
    private mutating func recover(_ name: SegmentName, following: UInt64?) throws(DiskQueueError) -> Step {
        let isLast = following == nil
        let path = QueueDirectory.path(directory, name.fileName)
        let file = try system { try FileDescriptor.open(path, flags: isLast ? O_RDWR : O_RDONLY) }
        let bytes = try system { try file.readAll() }
        if bytes.isEmpty, isLast {
            file.close()
            try QueueDirectory.remove(path)
            return .kept(nil)
        }
        // Sequences a record kept here may carry: above every earlier segment, below the next
        // one. Or the next one's first: that segment is then the part an interrupted run split
        // off this one (it is compared byte for byte before this one is cut).
        let lowest = max(report.nextSequence, name.firstSequence)
        let highest = following ?? Self.sequenceCeiling(above: lowest)
        guard case let .header(header) = bytes.withUnsafeBytes({ SegmentHeader.decode($0) }),
              header.firstSequence == name.firstSequence,
              header.firstSequence >= report.nextSequence
        else {
            // Nothing before the first intact record can be trusted, the header included.
            let found = lowest <= highest ? bytes.withUnsafeBytes {
                SegmentScanner.resynchronize($0, after: SegmentHeader.size - 1, sequences: lowest...highest, maxRecordBytes: maxRecordBytes)
            } : nil
            guard let found else {
                file.close()
                try quarantine(name)
                return .kept(nil)
            }
            defer { file.close() }
            return try split(name, bytes: bytes, damageFrom: 0, resume: found, lastGood: lowest - 1, kept: nil)
        }
        let scan = bytes.withUnsafeBytes {
            SegmentScanner.scan($0, firstSequence: header.firstSequence, maxRecordBytes: maxRecordBytes)
        }
        let segmentNext = scan.lastSequence.map { $0 + 1 } ?? header.firstSequence
        var preparedEnd = scan.end
        if scan.stop != nil {
            let zeroFilled = bytes.withUnsafeBytes { SegmentScanner.isZeroFilled($0, from: scan.end) }
            let found = !zeroFilled && segmentNext <= highest ? bytes.withUnsafeBytes {
                SegmentScanner.resynchronize($0, after: scan.end, sequences: segmentNext...highest, maxRecordBytes: maxRecordBytes)
            } : nil
            if let found {
                defer { file.close() }
                return try split(name, bytes: bytes, damageFrom: scan.end, resume: found, lastGood: segmentNext - 1, kept: scan)
            }
            if isLast {
                if zeroFilled {
                    preparedEnd = bytes.count
                } else {
                    try preserveTail(of: name, file: file, bytes: bytes, from: scan.end)
                }
            } else if zeroFilled {
                if let following, segmentNext < following {
                    report.zeroedTails.append(ZeroedTail(segment: name.fileName, offset: scan.end, bytes: bytes.count - scan.end,
                                                         sequences: segmentNext...(following - 1)))
                }
                try cut(path, to: scan.end)
            } else {
                try setAsideDamagedTail(of: name, bytes: bytes, from: scan.end, lastGood: segmentNext - 1, following: following)
            }
        }
        count(header.firstSequence, scan: scan)
        guard isLast else {
            file.close()
            return .kept(nil)
        }
        return .kept((ActiveSegment(file: file, firstSequence: header.firstSequence, end: scan.end, preparedEnd: preparedEnd), segmentNext))
    }

    /// Counts a kept segment whose valid records end at `scan.end` (nothing after it, or prepared
    /// zeros in the last segment).
    mutating func count(_ firstSequence: UInt64, scan: SegmentScanner.Scan) {
        report.segments += 1
        report.records += scan.records
        liveSegments[firstSequence] = scan.end
        if earliestRecord == nil, scan.records > 0 { earliestRecord = firstSequence }
        if let last = scan.lastSequence {
            held.append(firstSequence...last)
            report.nextSequence = max(report.nextSequence, last + 1)
        } else {
            report.nextSequence = max(report.nextSequence, firstSequence)
        }
    }

    /// The highest sequence a record in the last segment may carry: no segment holds anywhere
    /// near 2^40 records, so a larger one found while salvaging is garbage that happens to check.
    static func sequenceCeiling(above lowest: UInt64) -> UInt64 {
        let (upper, overflow) = lowest.addingReportingOverflow(1 << 40)
        return overflow ? UInt64.max : upper
    }

    /// The sequences in `[from, nextSequence)` that no kept segment holds, given the sequences
    /// `held` by each kept segment in order.
    static func missing(held: [ClosedRange<UInt64>], nextSequence: UInt64, from: UInt64) -> [ClosedRange<UInt64>] {
        var missing: [ClosedRange<UInt64>] = []
        var expected = from
        for run in held where run.upperBound >= expected {
            if run.lowerBound > expected { missing.append(expected...(run.lowerBound - 1)) }
            expected = run.upperBound + 1
        }
        if nextSequence > expected { missing.append(expected...(nextSequence - 1)) }
        return missing
    }

    /// Cuts a sealed segment (opened read-only for the scan) to `length`: `ftruncate` + `fsync`.
    func cut(_ path: String, to length: Int) throws(DiskQueueError) {
        let file = try system { try FileDescriptor.open(path, flags: O_RDWR) }
        defer { file.close() }
        try system { try file.truncate(to: length) }
        try system { try file.synchronize() }
    }

    /// Copies the bytes from `offset` to `<name>.truncated-<offset>` (synced), then cuts the file there.
    private mutating func preserveTail(of name: SegmentName, file: FileDescriptor, bytes: [UInt8], from offset: Int) throws(DiskQueueError) {
        let tail = Array(bytes[offset...])
        _ = try keepCopy(tail, named: "\(name.fileName).truncated-\(offset)")
        try system { try file.truncate(to: offset) }
        try system { try file.synchronize() }
        report.truncatedBytes += tail.count
    }

    /// Renames a segment to `<name>.bad` (or `.bad.N` if taken) and records it in the report.
    mutating func quarantine(_ name: SegmentName) throws(DiskQueueError) {
        let target = try QueueDirectory.unusedName(name.fileName + ".bad", in: directory)
        try QueueDirectory.rename(QueueDirectory.path(directory, name.fileName), to: QueueDirectory.path(directory, target))
        try system { try directoryFile.synchronizeDirectory() }
        report.quarantinedFiles.append(target)
    }

    /// The highest sequence of a checksum-valid record in any set-aside file in the directory
    /// (see `SegmentScanner.highestSequence`).
    private func highestSetAsideSequence() throws(DiskQueueError) -> UInt64? {
        var highest: UInt64?
        for entry in try QueueDirectory.entries(in: directory) {
            let segmentPart = String(entry.prefix(SegmentName(firstSequence: 1).fileName.count))
            guard let segment = SegmentName(fileName: segmentPart) else { continue }
            let rest = entry.dropFirst(segmentPart.count)
            // A quarantined file starts with its (possibly damaged) header; a cut-off tail with a record.
            let start: Int
            if rest.hasPrefix(".bad") {
                start = SegmentHeader.size
            } else if rest.hasPrefix(".truncated-") || rest.hasPrefix(".damaged-") {
                start = 0
            } else {
                continue
            }
            let file = try system { try FileDescriptor.open(QueueDirectory.path(directory, entry), flags: O_RDONLY) }
            let bytes = try system { try file.readAll() }
            let found = bytes.withUnsafeBytes {
                SegmentScanner.highestSequence(in: $0, from: min(start, $0.count), firstSequence: segment.firstSequence, maxRecordBytes: maxRecordBytes)
            }
            if let found { highest = max(highest ?? 0, found) }
        }
        return highest
    }
}
