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
public struct SetAsideFile: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case damaged
        case tornTail = "torn tail"
        case quarantined
    }

    /// The file's name in the queue directory.
    public var name: String
    public var kind: Kind
    /// Its size in bytes.
    public var bytes: Int
    /// Whether `queue salvage` already queued again what it held (the name ends in `.salvaged`).
    public var salvaged: Bool

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
    public static func list(in directory: String) throws(DiskQueueError) -> [SetAsideFile] {
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

    /// The payloads found in a set-aside file's `bytes` that `accept` takes (it checks they
    /// decode as what the queue holds). Records are walked by their length fields, the
    /// checksum is not required (it failed: that is why they were set aside); where a length
    /// leads to nothing accepted, the rest of the bytes (up to the last non-zero one) is tried
    /// as one payload, since a damaged length or sequence field leaves the payload whole.
    public func payloads(in bytes: [UInt8], maxRecordBytes: Int, accept: ([UInt8]) -> Bool) -> [[UInt8]] {
        var found: [[UInt8]] = []
        var offset = startsWithHeader ? min(SegmentHeader.size, bytes.count) : 0
        let end = (bytes.lastIndex { $0 != 0 } ?? -1) + 1
        while end - offset > RecordCodec.headerSize {
            let length = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            let start = offset + RecordCodec.headerSize
            if length > 0, length <= maxRecordBytes, start + length <= bytes.count {
                let payload = Array(bytes[start..<(start + length)])
                if accept(payload) {
                    found.append(payload)
                    offset = start + length
                    continue
                }
            }
            let rest = Array(bytes[start..<end])
            if rest.count <= maxRecordBytes, accept(rest) { found.append(rest) }
            break
        }
        return found
    }
}
