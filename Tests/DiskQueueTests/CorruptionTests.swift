import Foundation
import Testing
@testable import DiskQueue

@Suite struct CorruptionTests {
    /// With preallocation the damaged record is followed by prepared zeros: the whole tail,
    /// zeros included, is set aside and cut.
    @Test(arguments: preallocations)
    func everyFlippedBitInTheLastRecordIsDetected(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let original = base + "/original"
            let options = DiskQueueOptions(preallocationBytes: preallocation)
            let queue = try DiskQueue(directory: original, options: options)
            for index in 1...4 { _ = try queue.append([payload(index, size: 30)]) }
            queue.close()
            let segment = "segment-00000000000000000001.log"
            let bytes = try fileBytes(original + "/" + segment)
            let end = try committedEnd(of: original + "/" + segment)
            #expect(preallocation == 0 ? bytes.count == end : bytes.count > end)
            let start = end - 46
            let earlier = Array(try QueueReader.records(in: original).prefix(3))
            for index in start..<end {
                let copy = base + "/flip-\(index)"
                try copyDirectory(original, to: copy)
                var damaged = bytes
                damaged[index] ^= UInt8(1 << (index % 8))
                try writeFile(copy + "/" + segment, damaged)

                #expect(try QueueReader.records(in: copy) == earlier, "flip at \(index)")
                let reopened = try DiskQueue(directory: copy, options: options)
                #expect(reopened.recovery == RecoveryReport(segments: 1, records: 3, truncatedBytes: bytes.count - start, quarantinedFiles: [], nextSequence: 4, consumerPosition: 1, consumerPositionReset: true))
                reopened.close()
                #expect(try QueueReader.records(in: copy) == earlier)
                #expect(try fileBytes(copy + "/" + segment).count == start)
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    /// A flipped bit anywhere in a sealed segment (header or record) costs at most the record it
    /// is in: the others, before and after it, are kept in order.
    @Test(arguments: preallocations)
    func everyFlippedBitInASealedSegmentSetsAsideOnlyItsRecord(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let original = base + "/original"
            let options = DiskQueueOptions(segmentBytes: 120, preallocationBytes: preallocation)
            let queue = try DiskQueue(directory: original, options: options)
            for index in 1...12 { _ = try queue.append([payload(index, size: 20)]) }
            queue.close()
            let files = try segmentFiles(in: original)
            #expect(files.count >= 3)
            let all = try QueueReader.records(in: original)
            let sealed = files[1]
            let sealedFirst = try #require(SegmentName(fileName: sealed)).firstSequence
            let nextFirst = try #require(SegmentName(fileName: files[2])).firstSequence
            let bytes = try fileBytes(original + "/" + sealed)
            #expect(bytes.count == 24 + 2 * 36)
            for index in bytes.indices {
                let copy = base + "/flip-\(index)"
                try copyDirectory(original, to: copy)
                var damaged = bytes
                damaged[index] ^= UInt8(1 << (index % 8))
                try writeFile(copy + "/" + sealed, damaged)

                #expect(throws: DiskQueueError.self, "flip at \(index)") { try QueueReader.records(in: copy) }
                // Records before the damaged segment stay readable for a consumer past it.
                #expect(try QueueReader.records(in: copy, from: nextFirst) == all.filter { $0.sequence >= nextFirst })

                let reopened = try DiskQueue(directory: copy, options: options)
                let lost: UInt64? = index < 24 ? nil : sealedFirst + UInt64((index - 24) / 36)
                #expect(reopened.recovery.quarantinedFiles == [])
                #expect(reopened.recovery.damaged.count == 1, "flip at \(index)")
                #expect(reopened.recovery.damaged.first?.sequences == lost.map { $0...$0 }, "flip at \(index)")
                #expect(reopened.recovery.missingSequences == (lost.map { [$0...$0] } ?? []), "flip at \(index)")
                #expect(reopened.recovery.nextSequence == 13)
                #expect(try reopened.append([payload(13)]) == 13..<14)
                reopened.close()
                let left = try QueueReader.records(in: copy)
                #expect(left.map(\.sequence) == all.map(\.sequence).filter { $0 != lost } + [13], "flip at \(index)")
                #expect(!FileManager.default.fileExists(atPath: copy + "/" + sealed + ".bad"))
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    @Test func readerReportsTheCorruptOffset() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: 100))
            for index in 1...6 { _ = try queue.append([payload(index, size: 20)]) }
            queue.close()
            let first = base + "/" + (try segmentFiles(in: base)[0])
            var bytes = try fileBytes(first)
            bytes[24 + 16] ^= 1  // first payload byte of the first record
            try writeFile(first, bytes)
            #expect(throws: DiskQueueError.corrupt(path: first, offset: 24, reason: "record checksum mismatch")) {
                try QueueReader.records(in: base)
            }
        }
    }

    /// A damaged header does not cost the records after it: they are kept under a new header,
    /// and only the header bytes are set aside.
    @Test func badHeaderOnTheLastSegmentKeepsItsRecords() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            for index in 1...3 { _ = try queue.append([payload(index)]) }
            queue.close()
            let segment = base + "/segment-00000000000000000001.log"
            var bytes = try fileBytes(segment)
            bytes[0] = UInt8(ascii: "Z")
            try writeFile(segment, bytes)
            #expect(try QueueReader.records(in: base) == [])

            let first = try DiskQueue(directory: base)
            #expect(first.recovery == RecoveryReport(
                segments: 1, records: 3, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 4,
                damaged: [SetAsideDamage(segment: "segment-00000000000000000001.log", offset: 0, bytes: 24,
                                         file: "segment-00000000000000000001.log.damaged-0", sequences: nil)],
                consumerPosition: 1, consumerPositionReset: true))
            first.close()
            let reopened = try DiskQueue(directory: base)
            #expect(reopened.recovery == RecoveryReport(segments: 1, records: 3, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 4, consumerPosition: 1, consumerPositionReset: true))
            #expect(try reopened.append([payload(4)]) == 4..<5)
            reopened.close()
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000001.log"])
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1, 2, 3, 4])
        }
    }

    @Test(arguments: preallocations)
    func damageInsideTheLastSegmentKeepsTheRecordsAfterIt(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: .init(preallocationBytes: preallocation))
            for index in 1...5 { _ = try queue.append([payload(index, size: 20)]) }
            queue.close()
            let segment = base + "/segment-00000000000000000001.log"
            var bytes = try fileBytes(segment)
            let third = 24 + 2 * 36
            bytes[third + 20] ^= 0x40  // a payload byte of record 3; records 4 and 5 stay valid
            try writeFile(segment, bytes)

            let first = try DiskQueue(directory: base)
            #expect(first.recovery == RecoveryReport(
                segments: 2, records: 4, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 6,
                damaged: [SetAsideDamage(segment: "segment-00000000000000000001.log", offset: third, bytes: 36,
                                         file: "segment-00000000000000000001.log.damaged-\(third)", sequences: 3...3)],
                missingSequences: [3...3], consumerPosition: 1, consumerPositionReset: true))
            #expect(try first.append([payload(6)]) == 6..<7)
            first.close()
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000001.log", "segment-00000000000000000004.log"])
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1, 2, 4, 5, 6])
            #expect(try fileBytes(segment + ".damaged-\(third)") == Array(bytes[third..<(third + 36)]))

            let second = try DiskQueue(directory: base)
            #expect(second.recovery == RecoveryReport(segments: 2, records: 5, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 7,
                                                      missingSequences: [3...3], consumerPosition: 1, consumerPositionReset: true))
            second.close()
        }
    }

    @Test(arguments: preallocations)
    func recoveryTwiceGivesTheSameState(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let options = DiskQueueOptions(segmentBytes: 120, preallocationBytes: preallocation)
            let queue = try DiskQueue(directory: base, options: options)
            for index in 1...12 { _ = try queue.append([payload(index, size: 20)]) }
            queue.close()
            let files = try segmentFiles(in: base)
            // Damage a sealed segment and tear the last one.
            var sealed = try fileBytes(base + "/" + files[0])
            sealed[30] ^= 4
            try writeFile(base + "/" + files[0], sealed)
            let last = base + "/" + files[files.count - 1]
            #expect(truncate(last, off_t(try committedEnd(of: last) - 3)) == 0)

            let first = try DiskQueue(directory: base, options: options)
            let firstReport = first.recovery
            first.close()
            let records = try QueueReader.records(in: base)
            let second = try DiskQueue(directory: base, options: options)
            let secondReport = second.recovery
            second.close()

            #expect(firstReport.quarantinedFiles == [])
            #expect(firstReport.damaged.map(\.sequences) == [1...1])
            #expect(firstReport.missingSequences == [])
            #expect(firstReport.truncatedBytes == 36 - 3)
            #expect(secondReport == RecoveryReport(
                segments: firstReport.segments, records: firstReport.records, truncatedBytes: 0,
                quarantinedFiles: [], nextSequence: firstReport.nextSequence,
                consumerPosition: firstReport.consumerPosition, consumerPositionReset: true))
            // No consumer file: both fall back to the first record left, the one after the damage.
            #expect(firstReport.consumerPosition == 2)
            #expect(try QueueReader.records(in: base) == records)
        }
    }
}
