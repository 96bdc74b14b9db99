import Glibc
import SystemSupport

/// Reads records straight from a queue directory without taking its lock.
///
/// Usable while the daemon is stopped, and safe while one runs: it only opens segment files
/// read-only, and a writer only ever appends to the last segment past its committed end.
package enum QueueReader {
    /// Every whole valid record with `sequence >= from`, in order.
    ///
    /// Where the last segment stops holding valid records (a torn or invalid tail, zero-filled
    /// prepared space, a segment still being created, or a batch the writer is in the middle of)
    /// is silently where reading stops. An invalid header or record in an earlier, sealed segment
    /// throws `.corrupt`; opening the queue sets the damage aside and keeps the intact records. Zeros running from the
    /// last valid record to the end of a file are prepared space, a clean end in any segment (as
    /// recovery sees it). Segments that can only hold records below `from` are not read.
    /// Pass the `maxRecordBytes` the queue was written with if it is not the default.
    package static func records(
        in directory: String,
        from: UInt64 = 1,
        maxRecordBytes: Int = DiskQueueOptions().maxRecordBytes
    ) throws(DiskQueueError) -> [QueueRecord] {
        let names = try QueueDirectory.segments(in: directory)
        var records: [QueueRecord] = []
        var previousLast: UInt64?
        for (index, name) in names.enumerated() {
            let isLast = index == names.count - 1
            if !isLast, names[index + 1].firstSequence <= from { continue }
            let path = QueueDirectory.path(directory, name.fileName)
            let bytes: [UInt8]
            do throws(DiskQueueError) {
                let file = try system { try FileDescriptor.open(path, flags: O_RDONLY) }
                bytes = try system { try file.readAll() }
            } catch .system(let error) where error.errno == ENOENT {
                // Renamed aside or removed by a recovery since the listing.
                continue
            }
            let outcome = bytes.withUnsafeBytes { raw in
                scanSegment(raw, name: name, path: path, isLast: isLast, previousLast: previousLast, from: from, maxRecordBytes: maxRecordBytes) {
                    records.append($0)
                }
            }
            let scan = try outcome.get()
            guard let scan else { break }
            previousLast = scan.lastSequence ?? previousLast
        }
        return records
    }

    /// The consumer position stored in `<directory>/consumer` (the sequence of the next record to
    /// deliver), or nil when the file is missing, torn or damaged (recovery then starts from the
    /// earliest record). A file that cannot be read (EACCES for a user outside the daemon's
    /// group) is an error, not a missing position: counting from the earliest record would
    /// report delivered events as pending. Not checked against the segments: opening the queue
    /// does that and may fall back to an earlier position.
    package static func consumerPosition(in directory: String) throws(DiskQueueError) -> UInt64? {
        guard case let .position(position) = try ConsumerPositionFile.read(directory: directory) else { return nil }
        return position
    }

    /// Checks one segment and hands over its records from `from` on. Returns nil where a last
    /// segment holds nothing readable (yet); throws `.corrupt` for a sealed segment that is invalid.
    private static func scanSegment(
        _ raw: UnsafeRawBufferPointer,
        name: SegmentName,
        path: String,
        isLast: Bool,
        previousLast: UInt64?,
        from: UInt64,
        maxRecordBytes: Int,
        deliver: (QueueRecord) -> Void
    ) -> Result<SegmentScanner.Scan?, DiskQueueError> {
        let decoded = SegmentHeader.decode(raw)
        guard case let .header(header) = decoded else {
            if isLast { return .success(nil) }
            let reason = if case let .invalid(reason) = decoded { reason } else { "segment header is incomplete" }
            return .failure(.corrupt(path: path, offset: 0, reason: reason))
        }
        guard header.firstSequence == name.firstSequence, header.firstSequence > (previousLast ?? 0) else {
            if isLast { return .success(nil) }
            return .failure(.corrupt(path: path, offset: 0, reason: "segment header sequence \(header.firstSequence) does not follow the earlier segments"))
        }
        let scan = SegmentScanner.scan(raw, firstSequence: header.firstSequence, maxRecordBytes: maxRecordBytes) { sequence, payload in
            if sequence >= from {
                deliver(QueueRecord(sequence: sequence, payload: Array(raw[payload])))
            }
        }
        if let stop = scan.stop, !isLast, !SegmentScanner.isZeroFilled(raw, from: stop.offset) {
            return .failure(.corrupt(path: path, offset: stop.offset, reason: stop.reason))
        }
        return .success(scan)
    }
}
