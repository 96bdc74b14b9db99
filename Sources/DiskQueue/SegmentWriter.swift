import Glibc

/// Owns the active segment and the directory descriptor, and turns batches into durable records.
///
/// Confined to the writer thread once `DiskQueue.init` hands it over; nothing else touches it.
final class SegmentWriter {
    private let directory: String
    private let directoryFile: FileDescriptor
    private let options: DiskQueueOptions
    private var active: ActiveSegment?
    /// Sequence the next encoded record gets.
    private(set) var nextSequence: UInt64
    /// Reused for every batch so the hot path does not allocate once it has grown.
    private var buffer: [UInt8] = []

    init(directory: String, directoryFile: FileDescriptor, active: ActiveSegment?, nextSequence: UInt64, options: DiskQueueOptions) {
        self.directory = directory
        self.directoryFile = directoryFile
        self.active = active
        self.nextSequence = nextSequence
        self.options = options
    }

    /// Writes `batch` as consecutive records in one `pwrite` at the committed end, then one
    /// `fdatasync`. Returns each append's sequence range, in order. On error nothing is committed:
    /// the end offset and `nextSequence` stay where they were, and the caller must stop writing.
    func commit(_ batch: [PendingAppend]) throws(DiskQueueError) -> (ranges: [Range<UInt64>], records: Int, bytes: Int) {
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
        var segment = try segment(for: buffer.count)
        try options.faults?.fire(.beforeWrite)
        try segment.file.write(buffer, at: segment.end)
        try options.faults?.fire(.afterWriteBeforeSync)
        try segment.file.synchronizeData()
        segment.end += buffer.count
        active = segment
        let records = Int(sequence - nextSequence)
        nextSequence = sequence
        return (ranges, records, buffer.count)
    }

    /// Closes the active segment. Its records were synced by their batches.
    func close() {
        active?.file.close()
        active = nil
        directoryFile.close()
    }

    /// The segment the next `byteCount` bytes go to: the active one, or a new one when there is
    /// none or the bytes would take a segment that already holds records past `segmentBytes`.
    private func segment(for byteCount: Int) throws(DiskQueueError) -> ActiveSegment {
        if let active, active.end == SegmentHeader.size || active.end + byteCount <= options.segmentBytes {
            return active
        }
        let created = try createSegment(firstSequence: nextSequence)
        active?.file.close()
        active = created
        return created
    }

    /// Creates `segment-<first>.log`, writes and fsyncs its header, then fsyncs the directory,
    /// so the segment exists durably before any record goes into it.
    private func createSegment(firstSequence: UInt64) throws(DiskQueueError) -> ActiveSegment {
        try options.faults?.fire(.createSegment)
        let path = QueueDirectory.path(directory, SegmentName(firstSequence: firstSequence).fileName)
        let file = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL)
        try file.write(SegmentHeader(firstSequence: firstSequence).encoded(), at: 0)
        try file.synchronize()
        try directoryFile.synchronize()
        return ActiveSegment(file: file, firstSequence: firstSequence, end: SegmentHeader.size)
    }
}
