import Foundation
import Testing
@testable import DiskQueue

@Suite struct ConsumerRecoveryTests {
    private static let options = DiskQueueOptions(segmentBytes: SegmentHeader.size + 2 * (16 + 24))

    /// 20 records in segments of two; the consumer stored position 8, which deleted the
    /// segments of records 1–6, so the earliest record left is 7.
    private func makeQueue(_ directory: String) throws {
        try ConsumerPositionTests.makeQueue(directory, count: 20)
        let queue = try DiskQueue(directory: directory, options: Self.options)
        try queue.setConsumerPosition(8)
        queue.close()
        #expect(try segmentFiles(in: directory).first == "segment-00000000000000000007.log")
    }

    /// Opens `directory` and checks that the position fell back to record 7 and says so.
    private func expectReset(_ directory: String, _ comment: Comment? = nil) throws {
        let queue = try DiskQueue(directory: directory, options: Self.options)
        #expect(queue.recovery.consumerPositionReset, comment)
        #expect(queue.recovery.consumerPosition == 7, comment)
        #expect(queue.consumerPosition == 7, comment)
        #expect(try queue.readRecords(from: queue.consumerPosition, maxCount: 1).first?.sequence == 7, comment)
        queue.close()
    }

    @Test func missingFileFallsBackToTheEarliestRecord() throws {
        try withTemporaryDirectory { base in
            try makeQueue(base)
            try FileManager.default.removeItem(atPath: base + "/consumer")
            try expectReset(base)
        }
    }

    @Test func tornFileAtEveryLengthFallsBack() throws {
        try withTemporaryDirectory { base in
            let original = base + "/original"
            try makeQueue(original)
            let bytes = try fileBytes(original + "/consumer")
            #expect(bytes.count == 20)
            for cut in 0..<bytes.count {
                let copy = base + "/cut-\(cut)"
                try copyDirectory(original, to: copy)
                try writeFile(copy + "/consumer", Array(bytes[..<cut]))
                #expect(try QueueReader.consumerPosition(in: copy) == nil, "cut at \(cut)")
                try expectReset(copy, "cut at \(cut)")
                try FileManager.default.removeItem(atPath: copy)
            }
            // The whole file is used as is.
            let queue = try DiskQueue(directory: original, options: Self.options)
            #expect(queue.consumerPosition == 8)
            #expect(!queue.recovery.consumerPositionReset)
            queue.close()
        }
    }

    @Test func everyFlippedBitAndTrailingBytesAreDetected() throws {
        try withTemporaryDirectory { base in
            let original = base + "/original"
            try makeQueue(original)
            let bytes = try fileBytes(original + "/consumer")
            for index in bytes.indices {
                for bit in 0..<8 {
                    var damaged = bytes
                    damaged[index] ^= UInt8(1 << bit)
                    guard case .invalid = ConsumerPositionFile.decode(damaged) else {
                        Issue.record("flip of byte \(index) bit \(bit) not detected")
                        continue
                    }
                }
            }
            // Recovery, once per byte and for a trailing byte.
            var variants: [(String, [UInt8])] = [("trailing byte", bytes + [0])]
            for index in bytes.indices {
                var damaged = bytes
                damaged[index] ^= UInt8(1 << (index % 8))
                variants.append(("flip at \(index)", damaged))
            }
            for (number, (name, damaged)) in variants.enumerated() {
                let copy = base + "/variant-\(number)"
                try copyDirectory(original, to: copy)
                try writeFile(copy + "/consumer", damaged)
                #expect(try QueueReader.consumerPosition(in: copy) == nil, "\(name)")
                try expectReset(copy, "\(name)")
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    @Test(arguments: [0, 1, 6, 22, 23, UInt64.max])
    func positionOutsideTheRecordsOnDiskFallsBack(position: UInt64) throws {
        try withTemporaryDirectory { base in
            try makeQueue(base)
            try writeFile(base + "/consumer", ConsumerPositionFile.encode(position))
            #expect(try QueueReader.consumerPosition(in: base) == position)
            try expectReset(base)
        }
    }

    @Test(arguments: [7, 8, 15, 21])
    func positionWithinTheRecordsOnDiskIsKept(position: UInt64) throws {
        try withTemporaryDirectory { base in
            try makeQueue(base)
            try writeFile(base + "/consumer", ConsumerPositionFile.encode(position))
            let queue = try DiskQueue(directory: base, options: Self.options)
            #expect(queue.consumerPosition == position)
            #expect(queue.recovery.consumerPosition == position)
            #expect(!queue.recovery.consumerPositionReset)
            queue.close()
        }
    }

    @Test func newQueueAndQueueWithoutRecordsAreNoReset() throws {
        try withTemporaryDirectory { base in
            let fresh = try DiskQueue(directory: base)
            #expect(fresh.recovery.consumerPosition == 1)
            #expect(!fresh.recovery.consumerPositionReset)
            fresh.close()
            // A damaged file is reported even when there is nothing to deliver again.
            try writeFile(base + "/consumer", [1, 2, 3])
            let damaged = try DiskQueue(directory: base)
            #expect(damaged.recovery.consumerPosition == 1)
            #expect(damaged.recovery.consumerPositionReset)
            damaged.close()
        }
    }
}
