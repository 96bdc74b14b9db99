import Glibc
import Synchronization
import SystemSupport

/// Reads committed records straight from the segment files with `pread`, for
/// `DiskQueue.readRecords`, while the writer keeps appending and `setConsumerPosition` deletes
/// consumed segments.
///
/// Reads only records below the `limit` it is given (the durable next sequence, taken before
/// the directory is listed). Those bytes were synced and are never written again: the writer
/// only writes (prepared zeros, then batches over them) and cuts past the committed end of the
/// last segment. So a reader never sees a record whose sync has not returned, and never a
/// half-written one.
///
/// Sendable: its one piece of mutable state, where the last read stopped (so a consumer reading
/// in order does not rescan a segment from its start), sits in a `Mutex`.
final class DurableRecordReader: Sendable {
    /// A committed record boundary: the record with `sequence` starts at `offset` in `segment`.
    private struct Resume {
        let segment: UInt64
        let offset: Int
        let sequence: UInt64
    }

    private static let chunkBytes = 64 << 10
    private let directory: String
    private let maxRecordBytes: Int
    private let resume = Mutex<Resume?>(nil)

    init(directory: String, maxRecordBytes: Int) {
        self.directory = directory
        self.maxRecordBytes = maxRecordBytes
    }

    /// Up to `maxCount` records with `from <= sequence < limit`, in order. Records of a segment
    /// deleted meanwhile (all below the consumer position) are left out. Throws `.corrupt` when
    /// committed bytes do not hold the records they should.
    func records(from: UInt64, maxCount: Int, limit: UInt64) throws(DiskQueueError) -> [QueueRecord] {
        let from = max(from, 1)
        guard maxCount > 0, from < limit else { return [] }
        let names = try QueueDirectory.segments(in: directory).filter { $0.firstSequence < limit }
        var index = names.lastIndex { $0.firstSequence <= from } ?? 0
        var records: [QueueRecord] = []
        while index < names.count, records.count < maxCount {
            // A segment's records all lie below the first sequence of the next one.
            let bound = index + 1 < names.count ? min(names[index + 1].firstSequence, limit) : limit
            try read(names[index], from: from, bound: bound, maxCount: maxCount, into: &records)
            index += 1
        }
        return records
    }

    /// Appends the records of one segment with `from <= sequence < bound` to `records`.
    ///
    /// Where a segment's records end before `bound` (its later sequences were set aside by
    /// recovery), reading stops at the end of the file, or at zero-filled prepared space that
    /// runs to the end of the file (as recovery sees it: a clean end, not damage).
    private func read(_ name: SegmentName, from: UInt64, bound: UInt64, maxCount: Int, into records: inout [QueueRecord]) throws(DiskQueueError) {
        let path = QueueDirectory.path(directory, name.fileName)
        let file: FileDescriptor
        do throws(DiskQueueError) {
            file = try system { try FileDescriptor.open(path, flags: O_RDONLY) }
        } catch .system(let error) where error.errno == ENOENT {
            return
        }
        defer { file.close() }
        let start = try startOffset(in: name, file: file, from: from)
        var expected = start.sequence
        var chunkOffset = start.offset
        var chunk: [UInt8] = []
        var position = 0
        var reachedEnd = false
        reading: while expected < bound, records.count < maxCount {
            let decoded = chunk.withUnsafeBytes { RecordCodec.decode($0, at: position, maxRecordBytes: maxRecordBytes) }
            switch decoded {
            case let .record(sequence, payload, end):
                guard sequence == expected else {
                    throw .corrupt(path: path, offset: chunkOffset + position, reason: "record sequence \(sequence) where \(expected) was expected")
                }
                if sequence >= from { records.append(QueueRecord(sequence: sequence, payload: Array(chunk[payload]))) }
                expected += 1
                position = end
            case .incomplete where reachedEnd:
                // Ending on a record boundary is the end of a segment whose later sequences were
                // set aside by recovery; committed bytes never end inside a record.
                if position == chunk.count { break reading }
                if try Self.isZeroFilled(file, from: chunkOffset + position) { break reading }
                throw .corrupt(path: path, offset: chunkOffset + position, reason: "incomplete record")
            case .incomplete:
                let length = chunk.count - position >= RecordCodec.headerSize
                    ? chunk.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: UInt32.self))) }
                    : 0
                let wanted = max(Self.chunkBytes, RecordCodec.encodedSize(payloadCount: length))
                chunkOffset += position
                chunk = try system { try file.read(count: wanted, at: chunkOffset) }
                reachedEnd = chunk.count < wanted
                position = 0
            case let .invalid(reason):
                if try Self.isZeroFilled(file, from: chunkOffset + position) { break reading }
                throw .corrupt(path: path, offset: chunkOffset + position, reason: reason)
            }
        }
        let stop = Resume(segment: name.firstSequence, offset: chunkOffset + position, sequence: expected)
        resume.withLock { $0 = stop }
    }

    /// Whether every byte of `file` from `offset` to its end is zero (prepared space).
    private static func isZeroFilled(_ file: FileDescriptor, from offset: Int) throws(DiskQueueError) -> Bool {
        var position = offset
        while true {
            let chunk = try system { try file.read(count: chunkBytes, at: position) }
            guard chunk.withUnsafeBytes({ SegmentScanner.isZeroFilled($0, from: 0) }) else { return false }
            if chunk.count < chunkBytes { return true }
            position += chunk.count
        }
    }

    /// Where to start reading `name` for records from `from` on: where the last read of this
    /// segment stopped if that is not past `from`, else just after the (checked) header.
    private func startOffset(in name: SegmentName, file: FileDescriptor, from: UInt64) throws(DiskQueueError) -> (offset: Int, sequence: UInt64) {
        if let last = resume.withLock({ $0 }), last.segment == name.firstSequence, last.sequence <= from {
            return (last.offset, last.sequence)
        }
        let bytes = try system { try file.read(count: SegmentHeader.size, at: 0) }
        switch bytes.withUnsafeBytes({ SegmentHeader.decode($0) }) {
        case let .header(header) where header.firstSequence == name.firstSequence:
            return (SegmentHeader.size, header.firstSequence)
        case let .invalid(reason):
            throw .corrupt(path: file.path, offset: 0, reason: reason)
        default:
            throw .corrupt(path: file.path, offset: 0, reason: "segment header is incomplete or names another first sequence")
        }
    }
}
