/// The 24-byte header at the start of every segment file:
/// `magic "XWQSEG01" (8) | first sequence u64 LE (8) | crc32c of the previous 16 bytes u32 LE (4) | 4 zero bytes`.
///
/// The magic carries the format version. Records start right after the header, at offset 24.
struct SegmentHeader: Equatable {
    static let size = 24
    static let magic: [UInt8] = Array("XWQSEG01".utf8)

    /// Sequence number of the first record the segment holds (or will hold).
    let firstSequence: UInt64

    func encoded() -> [UInt8] {
        var bytes = SegmentHeader.magic
        bytes.reserveCapacity(SegmentHeader.size)
        withUnsafeBytes(of: firstSequence.littleEndian) { bytes.append(contentsOf: $0) }
        let crc = CRC32C.checksum(of: bytes)
        withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [0, 0, 0, 0])
        return bytes
    }

    /// Outcome of reading a header from the start of a file.
    enum Decoded: Equatable {
        case header(SegmentHeader)
        /// Fewer than `size` bytes: a segment whose creation did not finish.
        case incomplete
        case invalid(reason: String)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) -> Decoded {
        guard bytes.count >= size else { return .incomplete }
        guard bytes[0..<8].elementsEqual(magic) else {
            return .invalid(reason: "segment header magic is not XWQSEG01")
        }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        guard CRC32C.checksum(of: UnsafeRawBufferPointer(rebasing: bytes[0..<16])) == stored else {
            return .invalid(reason: "segment header checksum mismatch")
        }
        guard bytes[20..<24].allSatisfy({ $0 == 0 }) else {
            return .invalid(reason: "segment header reserved bytes are not zero")
        }
        let first = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard first >= 1 else { return .invalid(reason: "segment header first sequence is 0") }
        return .header(SegmentHeader(firstSequence: first))
    }
}
