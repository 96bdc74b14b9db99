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

    /// Whether every byte from `offset` to the end is zero. After the last valid record that is
    /// prepared space (`DiskQueueOptions.preallocationBytes`), the clean end of the records; a
    /// single non-zero byte there means a torn or damaged record instead.
    static func isZeroFilled(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        firstNonZero(bytes, from: offset) == nil
    }

    /// Offset of the first non-zero byte at or after `offset`, nil if there is none.
    static func firstNonZero(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Int? {
        var index = offset
        while index + 8 <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { break }
            index += 8
        }
        while index < bytes.count {
            if bytes[index] != 0 { return index }
            index += 1
        }
        return nil
    }

    /// Where reading can go on after an invalid record at `offset`: the first later offset
    /// holding a whole record whose checksum verifies and whose sequence lies in `sequences`
    /// (above the last good one, below the next segment's first), with that sequence. Nil when
    /// there is none: everything from `offset` on is the segment's tail.
    ///
    /// As the LevelDB and RocksDB log readers do after a bad block, the search moves on byte by
    /// byte, so a damaged length cannot make it skip intact records. Offsets whose sequence field
    /// lies outside `sequences` are passed over without computing a checksum, and runs of zeros
    /// are jumped (see `highestSequence`); the checksum covers length and sequence, so a false
    /// match is as unlikely as a CRC-32C collision.
    static func resynchronize(
        _ bytes: UnsafeRawBufferPointer,
        after offset: Int,
        sequences: ClosedRange<UInt64>,
        maxRecordBytes: Int
    ) -> (offset: Int, sequence: UInt64)? {
        nextValidRecord(bytes, from: offset + 1, sequences: sequences, maxRecordBytes: maxRecordBytes)
            .map { (offset: $0.offset, sequence: $0.sequence) }
    }

    /// The first offset from `start` on holding a whole record whose sequence lies in
    /// `sequences` and whose checksum verifies, with its sequence and where it ends. Moves on
    /// byte by byte; offsets whose sequence field is outside `sequences` get no checksum, and a
    /// run of zeros is jumped to the first offset whose sequence field reaches past it.
    private static func nextValidRecord(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        sequences: ClosedRange<UInt64>,
        maxRecordBytes: Int
    ) -> (offset: Int, sequence: UInt64, end: Int)? {
        var candidate = start
        while bytes.count - candidate >= RecordCodec.headerSize {
            let sequence = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: candidate + 8, as: UInt64.self))
            if sequence == 0 {
                // Bytes candidate+8 ..< candidate+16 are zero: a record can start again only
                // where its 8-byte sequence field takes in the next non-zero byte.
                let next = firstNonZero(bytes, from: candidate + 16) ?? bytes.count
                candidate = max(candidate + 1, next - 15)
                continue
            }
            if sequences.contains(sequence),
               case let .record(found, _, end) = RecordCodec.decode(bytes, at: candidate, maxRecordBytes: maxRecordBytes) {
                return (candidate, found, end)
            }
            candidate += 1
        }
        return nil
    }

    /// The highest sequence among records with a valid checksum in bytes being set aside from
    /// the segment starting at `firstSequence`. Lets recovery keep sequence numbers from ever
    /// being handed out twice.
    ///
    /// Where no valid record starts, the search moves on by one byte rather than by the stored
    /// length: a torn batch written over prepared space can hold zeroed or stale stretches that
    /// end anywhere, with whole records after them. Only offsets whose sequence field lies in
    /// `1 ... firstSequence + 2^40` (no segment holds anywhere near 2^40 records) get their
    /// checksum computed, so damaged bytes are passed over cheaply, and a run of zeros is jumped
    /// over to the first offset whose sequence field reaches past it. The checksum covers length
    /// and sequence, so a false match is as unlikely as a CRC-32C collision.
    static func highestSequence(in bytes: UnsafeRawBufferPointer, from start: Int, firstSequence: UInt64, maxRecordBytes: Int) -> UInt64? {
        let (upper, overflow) = firstSequence.addingReportingOverflow(1 << 40)
        let window = 1...(overflow ? UInt64.max : upper)
        var offset = start
        var highest: UInt64?
        while let found = nextValidRecord(bytes, from: offset, sequences: window, maxRecordBytes: maxRecordBytes) {
            highest = max(highest ?? 0, found.sequence)
            offset = found.end
        }
        return highest
    }
}
