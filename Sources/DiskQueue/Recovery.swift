import Glibc

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
/// - A bad header, or any invalid record in a sealed (not last) segment: the file is renamed to
///   `<name>.bad` and reported; its records are no longer read.
/// - The last segment's tail from the first incomplete or invalid record is copied to
///   `<name>.truncated-<offset>`, synced, and only then cut off with `ftruncate` + `fsync`. The
///   copy is the whole tail, prepared zeros after the damage included.
/// - A zero-length last segment (creation interrupted before its header) is removed.
/// - A last segment the writer will not append to (see `run`) is sealed: its zeros are cut off.
///
/// Idempotent: each step leaves a state the next run accepts as is, so a crash during recovery
/// followed by another recovery ends in the same segments, records and next sequence.
///
/// Sequence numbers are idempotency keys downstream, so they are never handed out twice: the
/// next sequence also stays above every record with a valid checksum in the set-aside files
/// (`.bad`, `.truncated-`) that are still in the directory. Those are read at every open;
/// move them out of the queue directory once inspected.
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

    private let directory: String
    private let directoryFile: FileDescriptor
    private let maxRecordBytes: Int
    private var report = RecoveryReport(segments: 0, records: 0, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 1)
    private var liveSegments: [UInt64: Int] = [:]
    /// Sequence of the first record in the kept segments.
    private var earliestRecord: UInt64?

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
        let names = try QueueDirectory.segments(in: directory)
        var last: (segment: ActiveSegment, next: UInt64)?
        for (index, name) in names.enumerated() {
            last = try recover(name, isLast: index == names.count - 1)
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
            try last.segment.file.synchronize()
        } else if let last, last.segment.preparedBytes > 0 {
            // It becomes a sealed segment: cut to its exact size before the writer creates the next one.
            try last.segment.file.truncate(to: last.segment.end)
            try last.segment.file.synchronize()
        }
        let consumer = try ConsumerPositionFile.recover(directory: directory, earliestRecord: earliestRecord, nextSequence: report.nextSequence)
        report.consumerPosition = consumer.position
        report.consumerPositionReset = consumer.reset
        try directoryFile.synchronizeDirectory()
        return Outcome(report: report, active: active, liveSegments: liveSegments)
    }

    /// Checks one segment. For the last one, when it is kept, returns it open for appending with
    /// the sequence its next record would carry (and its prepared zeros, if any).
    private mutating func recover(_ name: SegmentName, isLast: Bool) throws(DiskQueueError) -> (segment: ActiveSegment, next: UInt64)? {
        let path = QueueDirectory.path(directory, name.fileName)
        let file = try FileDescriptor.open(path, flags: isLast ? O_RDWR : O_RDONLY)
        let bytes = try file.readAll()
        if bytes.isEmpty, isLast {
            file.close()
            try QueueDirectory.remove(path)
            return nil
        }
        guard case let .header(header) = bytes.withUnsafeBytes({ SegmentHeader.decode($0) }),
              header.firstSequence == name.firstSequence,
              header.firstSequence >= report.nextSequence
        else {
            try quarantine(name)
            return nil
        }
        let scan = bytes.withUnsafeBytes {
            SegmentScanner.scan($0, firstSequence: header.firstSequence, maxRecordBytes: maxRecordBytes)
        }
        let segmentNext = scan.lastSequence.map { $0 + 1 } ?? header.firstSequence
        var preparedEnd = scan.end
        if scan.stop != nil {
            let zeroFilled = bytes.withUnsafeBytes { SegmentScanner.isZeroFilled($0, from: scan.end) }
            if isLast {
                if zeroFilled {
                    preparedEnd = bytes.count
                } else {
                    try preserveTail(of: name, file: file, bytes: bytes, from: scan.end)
                }
            } else {
                guard zeroFilled else {
                    try quarantine(name)
                    return nil
                }
                try cutZeros(path, to: scan.end)
            }
        }
        report.segments += 1
        report.records += scan.records
        // Everything before scan.end is valid; after it there is nothing, or (last segment only)
        // prepared zeros.
        liveSegments[header.firstSequence] = scan.end
        if earliestRecord == nil, scan.records > 0 { earliestRecord = header.firstSequence }
        report.nextSequence = max(report.nextSequence, segmentNext)
        guard isLast else { return nil }
        return (ActiveSegment(file: file, firstSequence: header.firstSequence, end: scan.end, preparedEnd: preparedEnd), segmentNext)
    }

    /// Cuts the zeros off a sealed segment (opened read-only for the scan): `ftruncate` + `fsync`.
    private func cutZeros(_ path: String, to length: Int) throws(DiskQueueError) {
        let file = try FileDescriptor.open(path, flags: O_RDWR)
        defer { file.close() }
        try file.truncate(to: length)
        try file.synchronize()
    }

    /// Copies the bytes from `offset` to `<name>.truncated-<offset>` (synced), then cuts the file there.
    private mutating func preserveTail(of name: SegmentName, file: FileDescriptor, bytes: [UInt8], from offset: Int) throws(DiskQueueError) {
        let tail = Array(bytes[offset...])
        let base = "\(name.fileName).truncated-\(offset)"
        var candidate = base
        var counter = 0
        while true {
            let path = QueueDirectory.path(directory, candidate)
            guard try QueueDirectory.exists(path) else {
                let copy = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_EXCL)
                try copy.write(tail, at: 0)
                try copy.synchronize()
                copy.close()
                break
            }
            // An earlier recovery that stopped before truncating left this exact copy: reuse it.
            let existing = try FileDescriptor.open(path, flags: O_RDONLY)
            if try existing.readAll() == tail { break }
            counter += 1
            candidate = "\(base).\(counter)"
        }
        try directoryFile.synchronizeDirectory()
        try file.truncate(to: offset)
        try file.synchronize()
        report.truncatedBytes += tail.count
    }

    /// Renames a segment to `<name>.bad` (or `.bad.N` if taken) and records it in the report.
    private mutating func quarantine(_ name: SegmentName) throws(DiskQueueError) {
        let target = try QueueDirectory.unusedName(name.fileName + ".bad", in: directory)
        try QueueDirectory.rename(QueueDirectory.path(directory, name.fileName), to: QueueDirectory.path(directory, target))
        try directoryFile.synchronizeDirectory()
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
            } else if rest.hasPrefix(".truncated-") {
                start = 0
            } else {
                continue
            }
            let file = try FileDescriptor.open(QueueDirectory.path(directory, entry), flags: O_RDONLY)
            let bytes = try file.readAll()
            let found = bytes.withUnsafeBytes {
                SegmentScanner.highestSequence(in: $0, from: min(start, $0.count), firstSequence: segment.firstSequence, maxRecordBytes: maxRecordBytes)
            }
            if let found { highest = max(highest ?? 0, found) }
        }
        return highest
    }
}
