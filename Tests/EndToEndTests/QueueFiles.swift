import ByteJSON
import Foundation

/// Reads the queue's segment files the way an outsider with a hex editor would: the 24-byte
/// segment header, then frames `len u32 LE | crc32c u32 LE | seq u64 LE | payload`. Tests use it
/// to damage one chosen record and to know which event that record held.
enum QueueFiles {
    struct Frame {
        let file: String
        /// Offset of the frame's first byte in the file, and the frame's whole length.
        let offset: Int
        let length: Int
        let sequence: UInt64
        /// `resourceId` of the event the record holds.
        let resourceIDs: [String]
    }

    static let segmentHeaderSize = 24
    static let frameHeaderSize = 16

    /// Every whole frame in the segment files of `queueDirectory`, file by file in name order.
    static func frames(in queueDirectory: String) -> [Frame] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: queueDirectory)) ?? [])
            .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.sorted()
        var frames: [Frame] = []
        for name in names {
            let path = queueDirectory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let bytes = Array(data)
            var offset = segmentHeaderSize
            while offset + frameHeaderSize <= bytes.count {
                let length = Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
                guard length > 0, offset + frameHeaderSize + length <= bytes.count else { break }
                var sequence: UInt64 = 0
                for i in 0..<8 { sequence |= UInt64(bytes[offset + 8 + i]) << (8 * UInt64(i)) }
                let payload = Array(bytes[(offset + frameHeaderSize)..<(offset + frameHeaderSize + length)])
                let ids = ((try? JSONParser.parse(payload))?["event"]?["resourceId"]?.stringValue).map { [$0] } ?? []
                frames.append(Frame(file: path, offset: offset, length: frameHeaderSize + length, sequence: sequence, resourceIDs: ids))
                offset += frameHeaderSize + length
            }
        }
        return frames
    }

    /// Flips the bits of `bit` in the byte at `offset` of `file`, in place.
    static func flip(file: String, at offset: Int, bit: UInt8) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        defer { try? handle.close() }  // a close error after the synchronize below cannot lose the flip
        try handle.seek(toOffset: UInt64(offset))
        let old = try handle.read(upToCount: 1) ?? Data()
        guard let byte = old.first else { throw CocoaError(.fileReadCorruptFile) }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: [byte ^ bit])
        try handle.synchronize()
    }
}
