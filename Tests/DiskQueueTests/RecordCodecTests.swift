import Testing
@testable import DiskQueue

@Suite struct RecordCodecTests {
    private func decode(_ bytes: [UInt8], at offset: Int = 0, limit: Int = 1 << 20) -> RecordCodec.Decoded {
        bytes.withUnsafeBytes { RecordCodec.decode($0, at: offset, maxRecordBytes: limit) }
    }

    @Test func roundTrip() {
        var buffer: [UInt8] = [0xAA, 0xBB]  // records need not start aligned
        let payloads: [[UInt8]] = [[], [1], payload(1, size: 100), payload(2, size: 4096)]
        for (index, body) in payloads.enumerated() {
            RecordCodec.append(sequence: UInt64(41 + index), payload: body, to: &buffer)
        }
        #expect(buffer.count == 2 + payloads.reduce(0) { $0 + 16 + $1.count })
        var offset = 2
        for (index, body) in payloads.enumerated() {
            guard case let .record(sequence, range, end) = decode(buffer, at: offset) else {
                Issue.record("record \(index) did not decode")
                return
            }
            #expect(sequence == UInt64(41 + index))
            #expect(Array(buffer[range]) == body)
            offset = end
        }
        #expect(offset == buffer.count)
    }

    @Test func layoutIsLengthChecksumSequencePayload() {
        var buffer: [UInt8] = []
        RecordCodec.append(sequence: 0x0102_0304_0506_0708, payload: [9, 8, 7], to: &buffer)
        #expect(Array(buffer[0..<4]) == [3, 0, 0, 0])
        #expect(Array(buffer[8..<16]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Array(buffer[16...]) == [9, 8, 7])
        let covered = Array(buffer[0..<4]) + Array(buffer[8...])
        let crc = CRC32C.checksum(of: covered)
        #expect(Array(buffer[4..<8]) == [UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24)])
    }

    @Test func everyPrefixIsIncomplete() {
        var buffer: [UInt8] = []
        RecordCodec.append(sequence: 7, payload: payload(7, size: 40), to: &buffer)
        for cut in 0..<buffer.count {
            #expect(decode(Array(buffer[..<cut])) == .incomplete)
        }
    }

    @Test func lengthAboveLimitIsRejectedBeforeReading() {
        var buffer: [UInt8] = []
        RecordCodec.append(sequence: 1, payload: payload(1, size: 65), to: &buffer)
        #expect(decode(buffer, limit: 64) == .invalid(reason: "record length 65 exceeds the limit of 64 bytes"))
        // A huge stored length is rejected even though the bytes it claims are not there.
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0x7F] + [UInt8](repeating: 0, count: 12)
        guard case .invalid = decode(huge) else {
            Issue.record("huge length was not rejected")
            return
        }
    }

    @Test func headerRoundTripAndDamage() {
        let header = SegmentHeader(firstSequence: 12345)
        let bytes = header.encoded()
        #expect(bytes.count == SegmentHeader.size)
        #expect(Array(bytes[0..<8]) == Array("XWQSEG01".utf8))
        #expect(bytes.withUnsafeBytes { SegmentHeader.decode($0) } == .header(header))
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x10
            guard case .invalid = damaged.withUnsafeBytes({ SegmentHeader.decode($0) }) else {
                Issue.record("flipped header byte \(index) not detected")
                continue
            }
        }
    }

    @Test func segmentNames() {
        let name = SegmentName(firstSequence: 42)
        #expect(name.fileName == "segment-00000000000000000042.log")
        #expect(SegmentName(fileName: name.fileName) == name)
        #expect(SegmentName(fileName: name.fileName + ".bad") == nil)
        #expect(SegmentName(fileName: "segment-0000000000000000004x.log") == nil)
        #expect(SegmentName(fileName: "segment-42.log") == nil)
    }
}
