import Testing
@testable import DiskQueue

@Suite struct CRC32CTests {
    /// Bit-at-a-time reference, independent of the slicing tables.
    private func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }

    @Test func standardCheckValue() {
        #expect(CRC32C.checksum(of: Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func emptyInputIsZero() {
        #expect(CRC32C.checksum(of: []) == 0)
    }

    @Test func matchesReferenceForEveryLengthAndAlignment() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        for start in 0..<9 {
            for length in stride(from: 0, through: data.count - start, by: 1) {
                let slice = Array(data[start..<(start + length)])
                #expect(CRC32C.checksum(of: slice) == reference(slice))
            }
        }
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            var crc = CRC32C()
            crc.update(Array(data[..<split]))
            crc.update(Array(data[split...]))
            #expect(crc.value == CRC32C.checksum(of: data))
        }
    }
}
