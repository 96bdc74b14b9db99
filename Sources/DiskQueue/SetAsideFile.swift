import Glibc
import SystemSupport

/// A file recovery set aside in the queue directory, beside the segments, so no byte it cut out
/// of a segment is destroyed:
///
/// - `<segment>.damaged-<offset>`: damaged records taken out of a segment whose intact records
///   were kept (`RecoveryReport.damaged`);
/// - `<segment>.truncated-<offset>`: the torn tail of the last segment after a crash
///   (`RecoveryReport.truncatedBytes`), never acknowledged;
/// - `<segment>.bad`: a whole segment whose header was damaged with no intact record after it
///   (or set aside by an older version).
///
/// Any of them with `.salvaged` added was read by `DiskQueue.markSalvaged` after what still
/// decoded in it was queued again. Recovery keeps sequence numbers above every checksum-valid
/// record in all of these, so leave them in place (or move them out once no longer wanted).
package struct SetAsideFile: Sendable, Equatable {
    package enum Kind: String, Sendable {
        case damaged
        case tornTail = "torn tail"
        case quarantined
    }

    /// The file's name in the queue directory.
    package var name: String
    package var kind: Kind
    /// Its size in bytes.
    package var bytes: Int
    /// Whether `queue salvage` already queued again what it held (the name ends in `.salvaged`).
    package var salvaged: Bool

    /// Whether the bytes start where the segment did (its header first): quarantined segments,
    /// and damage at offset 0.
    var startsWithHeader: Bool {
        if kind == .quarantined { return true }
        let rest = name.dropFirst(SegmentName(firstSequence: 1).fileName.count)
        guard kind == .damaged, rest.hasPrefix(".damaged-") else { return false }
        return rest.dropFirst(".damaged-".count).prefix { $0.isNumber } == "0"
    }

    static let salvagedSuffix = ".salvaged"

    /// The set-aside files in `directory`, by name. Reads no lock, so it works while a daemon
    /// has the queue open.
    package static func list(in directory: String) throws(DiskQueueError) -> [SetAsideFile] {
        var files: [SetAsideFile] = []
        let headerLength = SegmentName(firstSequence: 1).fileName.count
        for entry in try QueueDirectory.entries(in: directory).sorted() {
            guard SegmentName(fileName: String(entry.prefix(headerLength))) != nil else { continue }
            let rest = entry.dropFirst(headerLength)
            let kind: Kind
            if rest.hasPrefix(".damaged-") {
                kind = .damaged
            } else if rest.hasPrefix(".truncated-") {
                kind = .tornTail
            } else if rest.hasPrefix(".bad") {
                kind = .quarantined
            } else {
                continue
            }
            var info = stat()
            guard stat(QueueDirectory.path(directory, entry), &info) == 0 else {
                let error = SystemCallError.last("stat", path: QueueDirectory.path(directory, entry))
                if error.errno == ENOENT { continue }  // renamed by a salvage meanwhile
                throw .system(error)
            }
            files.append(SetAsideFile(name: entry, kind: kind, bytes: Int(info.st_size), salvaged: entry.hasSuffix(salvagedSuffix)))
        }
        return files
    }

    /// What `payloads(in:)` found in a set-aside file.
    package struct Found: Sendable, Equatable {
        /// Payloads `accept` took, in file order.
        package var payloads: [[UInt8]] = []
        /// How many of them are in a record whose checksum fails (queued again all the same:
        /// they still decode, but a byte of them may be wrong).
        package var checksumFailures = 0
        /// Stretches of bytes in which nothing decoded (skipped).
        package var undecodableStretches = 0
    }

    /// The payloads found in a set-aside file's `bytes` that `accept` takes (it checks they
    /// decode as what the queue holds). Records are walked by their length fields; the
    /// checksum is not required (it failed: that is why they were set aside), only counted.
    /// Where a length leads to nothing accepted, the search goes on byte by byte for the next
    /// record that is accepted, as the recovery's resynchronisation does, so one damaged length
    /// field does not hide the records after it. Only offsets whose payload would start with `{`
    /// (every queued event does) are tried. The damaged record's own payload, from after its
    /// header up to the next record found (or the last non-zero byte), is tried too: a damaged
    /// length or sequence field leaves the payload whole.
    package func payloads(in bytes: [UInt8], maxRecordBytes: Int, accept: ([UInt8]) -> Bool) -> Found {
        var found = Found()
        var offset = startsWithHeader ? min(SegmentHeader.size, bytes.count) : 0
        let end = (bytes.lastIndex { $0 != 0 } ?? -1) + 1
        // Where the stretch being skipped began (the header of a record that was not accepted).
        var skippedFrom: Int?
        func recordAt(_ offset: Int) -> (payload: [UInt8], next: Int, checksumOK: Bool)? {
            let start = offset + RecordCodec.headerSize
            guard start < end, bytes[start] == UInt8(ascii: "{") else { return nil }
            let length = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            guard length > 0, length <= maxRecordBytes, start + length <= bytes.count else { return nil }
            let payload = Array(bytes[start..<(start + length)])
            guard accept(payload) else { return nil }
            let checksumOK = bytes.withUnsafeBytes {
                if case .record = RecordCodec.decode($0, at: offset, maxRecordBytes: maxRecordBytes) { true } else { false }
            }
            return (payload, start + length, checksumOK)
        }
        func closeStretch(at next: Int) {
            guard let from = skippedFrom else { return }
            skippedFrom = nil
            let start = from + RecordCodec.headerSize
            let stop = bytes[..<next].lastIndex { $0 != 0 }.map { $0 + 1 } ?? next
            if start < stop, stop - start <= maxRecordBytes, bytes[start] == UInt8(ascii: "{") {
                let rest = Array(bytes[start..<stop])
                if accept(rest) {
                    found.payloads.append(rest)
                    found.checksumFailures += 1
                    return
                }
            }
            found.undecodableStretches += 1
        }
        while end - offset > RecordCodec.headerSize {
            if let record = recordAt(offset) {
                closeStretch(at: offset)
                found.payloads.append(record.payload)
                if !record.checksumOK { found.checksumFailures += 1 }
                offset = record.next
                continue
            }
            if skippedFrom == nil { skippedFrom = offset }
            offset += 1
        }
        if skippedFrom == nil && offset < end { skippedFrom = offset }
        closeStretch(at: end)
        return found
    }
}
