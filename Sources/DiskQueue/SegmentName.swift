/// Segment file names: `segment-<first sequence, 20 digits zero-padded>.log`.
///
/// Zero padding makes name order equal sequence order. Files set aside by recovery
/// (`.bad`, `.truncated-<offset>`) do not match and are never read as segments.
struct SegmentName: Equatable, Comparable {
    static let prefix = "segment-"
    static let suffix = ".log"
    private static let digits = 20

    let firstSequence: UInt64

    var fileName: String {
        let number = String(firstSequence)
        return SegmentName.prefix + String(repeating: "0", count: SegmentName.digits - number.count) + number + SegmentName.suffix
    }

    init(firstSequence: UInt64) {
        self.firstSequence = firstSequence
    }

    /// Parses a directory entry; nil for anything that is not exactly a segment name.
    init?(fileName: String) {
        let utf8 = Array(fileName.utf8)
        let prefix = Array(SegmentName.prefix.utf8)
        let suffix = Array(SegmentName.suffix.utf8)
        guard utf8.count == prefix.count + SegmentName.digits + suffix.count,
              utf8.starts(with: prefix), utf8.suffix(suffix.count).elementsEqual(suffix)
        else { return nil }
        let number = utf8[prefix.count..<(prefix.count + SegmentName.digits)]
        guard number.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = UInt64(String(decoding: number, as: UTF8.self))
        else { return nil }
        firstSequence = value
    }

    static func < (lhs: SegmentName, rhs: SegmentName) -> Bool {
        lhs.firstSequence < rhs.firstSequence
    }
}
