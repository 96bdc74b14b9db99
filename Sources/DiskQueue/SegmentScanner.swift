/// Walks the records of one segment's bytes and checks them: length bound, checksum, and
/// sequence continuity (the first record carries the header's first sequence, each next one +1).
enum SegmentScanner {
    /// Where and why a scan stopped before the end of the bytes.
    struct Stop: Equatable {
        let offset: Int
        let reason: String
    }

    /// The valid prefix of a segment.
    struct Scan: Equatable {
        /// Whole valid records in the prefix.
        var records = 0
        /// Sequence of the last valid record, nil when there is none.
        var lastSequence: UInt64?
        /// Offset just past the last valid record (the header size when there is none).
        var end: Int
        /// Set when bytes follow the valid prefix: an incomplete or invalid record.
        var stop: Stop?
    }

    /// Scans `bytes` (a whole segment file) from just after the header. `visit` gets each valid
    /// record's sequence and payload range, in order, before the scan moves on.
    static func scan(
        _ bytes: UnsafeRawBufferPointer,
        firstSequence: UInt64,
        maxRecordBytes: Int,
        visit: (UInt64, Range<Int>) -> Void = { _, _ in }
    ) -> Scan {
        var scan = Scan(end: SegmentHeader.size)
        var expected = firstSequence
        while scan.end < bytes.count {
            switch RecordCodec.decode(bytes, at: scan.end, maxRecordBytes: maxRecordBytes) {
            case .incomplete:
                scan.stop = Stop(offset: scan.end, reason: "incomplete record")
                return scan
            case let .invalid(reason):
                scan.stop = Stop(offset: scan.end, reason: reason)
                return scan
            case let .record(sequence, payload, end):
                guard sequence == expected else {
                    scan.stop = Stop(offset: scan.end, reason: "record sequence \(sequence) where \(expected) was expected")
                    return scan
                }
                visit(sequence, payload)
                scan.records += 1
                scan.lastSequence = sequence
                scan.end = end
                expected = sequence &+ 1
            }
        }
        return scan
    }

    /// The highest sequence among records with a valid checksum in bytes being set aside, found by
    /// stepping over each record by its stored length, valid or not, until the lengths stop making
    /// sense. Lets recovery keep sequence numbers from ever being handed out twice.
    static func highestSequence(in bytes: UnsafeRawBufferPointer, from start: Int, maxRecordBytes: Int) -> UInt64? {
        var offset = start
        var highest: UInt64?
        while bytes.count - offset >= RecordCodec.headerSize {
            switch RecordCodec.decode(bytes, at: offset, maxRecordBytes: maxRecordBytes) {
            case .incomplete:
                return highest
            case let .record(sequence, _, end):
                highest = max(highest ?? 0, sequence)
                offset = end
            case .invalid:
                let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                guard length <= maxRecordBytes else { return highest }
                offset += RecordCodec.headerSize + length
            }
        }
        return highest
    }
}
