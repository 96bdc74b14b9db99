/// The on-disk record framing: `len u32 LE | crc32c u32 LE | seq u64 LE | payload (len bytes)`.
///
/// The CRC-32C covers the length, the sequence and the payload (in that order), so a damaged
/// length or sequence is caught as well as a damaged payload.
enum RecordCodec {
    /// Bytes before the payload.
    static let headerSize = 16

    /// Encoded size of a record carrying `payloadCount` bytes.
    static func encodedSize(payloadCount: Int) -> Int {
        headerSize + payloadCount
    }

    /// Appends one encoded record to `buffer`. The caller has checked the payload fits in a u32.
    static func append(sequence: UInt64, payload: [UInt8], to buffer: inout [UInt8]) {
        var header: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &header) { raw in
            raw.storeBytes(of: UInt32(truncatingIfNeeded: payload.count).littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            let crc = payload.withUnsafeBytes { checksum(header: UnsafeRawBufferPointer(raw), payload: $0) }
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
            buffer.append(contentsOf: UnsafeRawBufferPointer(raw))
        }
        buffer.append(contentsOf: payload)
    }

    /// CRC over the length field (header bytes 0..<4), the sequence (8..<16) and the payload.
    private static func checksum(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32C()
        crc.update(UnsafeRawBufferPointer(rebasing: header[0..<4]))
        crc.update(UnsafeRawBufferPointer(rebasing: header[8..<16]))
        crc.update(payload)
        return crc.value
    }

    /// Result of reading one record at an offset.
    enum Decoded: Equatable {
        /// A whole record with a matching checksum; `end` is the offset just past it.
        case record(sequence: UInt64, payload: Range<Int>, end: Int)
        /// The bytes stop before the record does (a torn write, or a reader racing the writer).
        case incomplete
        /// The bytes are there but cannot be a record we wrote.
        case invalid(reason: String)
    }

    /// Reads the record starting at `offset`. A length above `maxRecordBytes` is rejected before
    /// anything is sized from it.
    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int, maxRecordBytes: Int) -> Decoded {
        let available = bytes.count - offset
        guard available >= headerSize else { return .incomplete }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        guard length <= maxRecordBytes else {
            return .invalid(reason: "record length \(length) exceeds the limit of \(maxRecordBytes) bytes")
        }
        guard available - headerSize >= length else { return .incomplete }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        let header = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + headerSize)])
        let payload = (offset + headerSize)..<(offset + headerSize + length)
        guard checksum(header: header, payload: UnsafeRawBufferPointer(rebasing: bytes[payload])) == stored else {
            return .invalid(reason: "record checksum mismatch")
        }
        let sequence = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        return .record(sequence: sequence, payload: payload, end: payload.upperBound)
    }
}
