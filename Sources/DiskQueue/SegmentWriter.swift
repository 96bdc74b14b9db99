import Glibc

/// Owns the active segment and the directory descriptor, and turns batches into durable records.
///
/// Confined to the writer thread once `DiskQueue.init` hands it over; nothing else touches it.
/// It only ever writes past the committed end of the last segment, so readers may `pread` the
/// committed bytes at any time.
final class SegmentWriter {
    /// What one committed batch produced.
    struct Commit {
        /// Each append's sequence range, in batch order.
        var ranges: [Range<UInt64>]
        var records: Int
        var bytes: Int
        /// How long the batch's `fdatasync` took.
        var syncNanoseconds: UInt64
    }

    private let directory: String
    private let directoryFile: FileDescriptor
    private let options: DiskQueueOptions
    private let live: LiveBytes
    private var active: ActiveSegment?
    /// Sequence the next encoded record gets.
    private(set) var nextSequence: UInt64
    /// Reused for every batch so the hot path does not allocate once it has grown.
    private var buffer: [UInt8] = []

    init(directory: String, directoryFile: FileDescriptor, active: ActiveSegment?, nextSequence: UInt64, options: DiskQueueOptions, live: LiveBytes) {
        self.directory = directory
        self.directoryFile = directoryFile
        self.active = active
        self.nextSequence = nextSequence
        self.options = options
        self.live = live
    }

    /// Writes `batch` as consecutive records in one `pwrite` at the committed end, then one
    /// `fdatasync`. Returns each append's sequence range, in order. On error nothing is committed:
    /// the end offset and `nextSequence` stay where they were. After `.diskFull` or `.queueFull`
    /// none of the batch is left in the file and writing may go on; after any other error the
    /// caller must stop writing.
    func commit(_ batch: [PendingAppend]) throws(DiskQueueError) -> Commit {
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(batch.reduce(0) { $0 + $1.encodedBytes })
        var ranges: [Range<UInt64>] = []
        ranges.reserveCapacity(batch.count)
        var sequence = nextSequence
        for append in batch {
            let first = sequence
            for payload in append.payloads {
                RecordCodec.append(sequence: sequence, payload: payload, to: &buffer)
                sequence += 1
            }
            ranges.append(first..<sequence)
        }
        let growth = buffer.count + (needsNewSegment(for: buffer.count) ? SegmentHeader.size : 0)
        try admit(growth)
        var segment = try segment(for: buffer.count)
        try write(buffer, to: segment)
        try options.faults?.fire(.afterWriteBeforeSync)
        let started = monotonicNanoseconds()
        try segment.file.synchronizeData()
        let syncNanoseconds = monotonicNanoseconds() &- started
        try options.faults?.fire(.afterSyncBeforeAck)
        segment.end += buffer.count
        active = segment
        live.add(buffer.count)
        let records = Int(sequence - nextSequence)
        nextSequence = sequence
        return Commit(ranges: ranges, records: records, bytes: buffer.count, syncNanoseconds: syncNanoseconds)
    }

    /// Closes the active segment. Its records were synced by their batches.
    func close() {
        active?.file.close()
        active = nil
        directoryFile.close()
    }

    /// Refuses a batch that would grow the segment files by `byteCount` past `maxQueueBytes`, or
    /// leave less than `minFreeBytes` free. Runs before anything of the batch touches the disk.
    private func admit(_ byteCount: Int) throws(DiskQueueError) {
        if let limit = options.maxQueueBytes, live.value + byteCount > limit {
            throw .queueFull(limit: limit)
        }
        guard options.minFreeBytes > 0 else { return }
        let available = try directoryFile.availableBytes()
        if available - byteCount < options.minFreeBytes {
            throw .diskFull("\(available) bytes free; writing \(byteCount) would go below the reserve of \(options.minFreeBytes)")
        }
    }

    /// One `pwrite` of the batch at the committed end. When the file system is full (ENOSPC,
    /// EDQUOT; a short write ends in one of them) the segment is cut back to the committed end:
    /// those bytes were never synced or acknowledged, so the queue stays as the last sync left it.
    private func write(_ bytes: [UInt8], to segment: ActiveSegment) throws(DiskQueueError) {
        do throws(DiskQueueError) {
            try options.faults?.fire(.beforeWrite)
            try segment.file.write(bytes, at: segment.end)
        } catch {
            guard error.isOutOfSpace else { throw error }
            // If this fails, unknown bytes stay past the end: the error stops the queue.
            try segment.file.truncate(to: segment.end)
            throw .diskFull(error.description)
        }
    }

    /// Whether `byteCount` more bytes need a new segment: there is none, or they would take one
    /// that already holds records past `segmentBytes`.
    private func needsNewSegment(for byteCount: Int) -> Bool {
        guard let active else { return true }
        return active.end != SegmentHeader.size && active.end + byteCount > options.segmentBytes
    }

    /// The segment the next `byteCount` bytes go to (see `needsNewSegment`).
    private func segment(for byteCount: Int) throws(DiskQueueError) -> ActiveSegment {
        if let active, !needsNewSegment(for: byteCount) {
            return active
        }
        let created = try createSegment(firstSequence: nextSequence)
        active?.file.close()
        active = created
        return created
    }

    /// Creates `segment-<first>.log`, writes and fsyncs its header, then fsyncs the directory,
    /// so the segment exists durably before any record goes into it. A full file system while
    /// creating it or writing its header removes the partial file and throws `.diskFull`.
    private func createSegment(firstSequence: UInt64) throws(DiskQueueError) -> ActiveSegment {
        let path = QueueDirectory.path(directory, SegmentName(firstSequence: firstSequence).fileName)
        let file: FileDescriptor
        do throws(DiskQueueError) {
            try options.faults?.fire(.createSegment)
            file = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL)
            do throws(DiskQueueError) {
                try file.write(SegmentHeader(firstSequence: firstSequence).encoded(), at: 0)
            } catch {
                file.close()
                guard error.isOutOfSpace else { throw error }
                // A leftover would block the name (O_EXCL) for the next try. No directory sync:
                // if a crash brings the entry back, recovery drops or sets aside a last segment
                // without a whole header, and the next segment created syncs the directory anyway.
                try QueueDirectory.remove(path)
                throw error
            }
        } catch {
            throw error.isOutOfSpace ? .diskFull(error.description) : error
        }
        try file.synchronize()
        try directoryFile.synchronize()
        live.add(SegmentHeader.size)
        return ActiveSegment(file: file, firstSequence: firstSequence, end: SegmentHeader.size)
    }
}

/// CLOCK_MONOTONIC in nanoseconds, for timing syncs.
private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
