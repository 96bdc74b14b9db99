import Foundation
import Testing
@testable import DiskQueue

/// Zeros after the last valid record are prepared space, the clean end; any non-zero byte in
/// that tail makes it damage.
@Suite struct ZeroTailRecoveryTests {
    private static let count = 5
    /// A smaller chunk than the default keeps the many copies cheap; the rules do not depend on it.
    private static let options = DiskQueueOptions(preallocationBytes: 64 << 10)
    private static let segment = "segment-00000000000000000001.log"
    /// Encoded size of the last record (`payload(count, size: 30)`).
    private static let lastRecord = 16 + 30

    /// `count` records in one segment with prepared zeros after them; returns the committed end
    /// and the file size.
    private func makeQueue(_ directory: String) throws -> (end: Int, size: Int) {
        let queue = try DiskQueue(directory: directory, options: Self.options)
        for index in 1...Self.count { _ = try queue.append([payload(index, size: 30)]) }
        queue.close()
        let path = directory + "/" + Self.segment
        let end = try committedEnd(of: path)
        let size = try fileBytes(path).count
        #expect(end == SegmentHeader.size + Self.count * Self.lastRecord)
        #expect(size == SegmentHeader.size + Self.options.preallocationBytes)
        return (end, size)
    }

    @Test func zeroTailIsACleanEndEveryTime() throws {
        try withTemporaryDirectory { base in
            let (end, size) = try makeQueue(base)
            let clean = RecoveryReport(segments: 1, records: Self.count, truncatedBytes: 0, quarantinedFiles: [],
                                       nextSequence: UInt64(Self.count + 1), consumerPosition: 1, consumerPositionReset: true)
            for _ in 1...2 {
                let queue = try DiskQueue(directory: base, options: Self.options)
                #expect(queue.recovery == clean)
                #expect(queue.liveBytes == end)
                queue.close()
                #expect(try fileBytes(base + "/" + Self.segment).count == size)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.hasPrefix("segment-") } == [Self.segment])
        }
    }

    /// A torn write can leave the start of a record followed by zeros: that is damage.
    @Test func tornRecordFollowedByZerosIsDamage() throws {
        try withTemporaryDirectory { base in
            let original = base + "/original"
            let (end, size) = try makeQueue(original)
            let start = end - Self.lastRecord
            let bytes = try fileBytes(original + "/" + Self.segment)
            let earlier = Array(try QueueReader.records(in: original).prefix(Self.count - 1))
            for kept in 0..<Self.lastRecord {
                let copy = base + "/kept-\(kept)"
                try copyDirectory(original, to: copy)
                var torn = bytes
                for index in (start + kept)..<end { torn[index] = 0 }
                try writeFile(copy + "/" + Self.segment, torn)
                let tornTail = torn[start...].contains { $0 != 0 }
                #expect(tornTail == (kept > 0), "kept \(kept)")

                #expect(try QueueReader.records(in: copy) == earlier, "kept \(kept)")
                let queue = try DiskQueue(directory: copy, options: Self.options)
                let segment = copy + "/" + Self.segment
                if tornTail {
                    #expect(queue.recovery == RecoveryReport(
                        segments: 1, records: Self.count - 1, truncatedBytes: size - start, quarantinedFiles: [],
                        nextSequence: UInt64(Self.count), consumerPosition: 1, consumerPositionReset: true), "kept \(kept)")
                    #expect(try fileBytes(segment + ".truncated-\(start)") == Array(torn[start...]), "kept \(kept)")
                    #expect(try fileBytes(segment).count == start, "kept \(kept)")
                } else {
                    // Nothing of the record reached the disk: the same as never written.
                    #expect(queue.recovery.truncatedBytes == 0)
                    #expect(queue.recovery.nextSequence == UInt64(Self.count))
                    #expect(try fileBytes(segment).count == size)
                }
                #expect(try queue.append([payload(99)]) == UInt64(Self.count)..<UInt64(Self.count + 1))
                queue.close()
                #expect(try QueueReader.records(in: copy) == earlier + [QueueRecord(sequence: UInt64(Self.count), payload: payload(99))])
                let again = try DiskQueue(directory: copy, options: Self.options)
                #expect(again.recovery.truncatedBytes == 0, "kept \(kept)")
                #expect(again.recovery.quarantinedFiles == [], "kept \(kept)")
                again.close()
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    /// One non-zero byte anywhere between the last record and the end of the file is damage.
    @Test func nonZeroByteInTheZeroTailIsDamage() throws {
        try withTemporaryDirectory { base in
            let original = base + "/original"
            let (end, size) = try makeQueue(original)
            let bytes = try fileBytes(original + "/" + Self.segment)
            let all = try QueueReader.records(in: original)
            for offset in [end, end + 1, end + 15, end + 16, end + 4095, (end + size) / 2, size - 1] {
                let copy = base + "/at-\(offset)"
                try copyDirectory(original, to: copy)
                var damaged = bytes
                damaged[offset] = 0x01
                try writeFile(copy + "/" + Self.segment, damaged)

                #expect(try QueueReader.records(in: copy) == all)
                let queue = try DiskQueue(directory: copy, options: Self.options)
                #expect(queue.recovery == RecoveryReport(
                    segments: 1, records: Self.count, truncatedBytes: size - end, quarantinedFiles: [],
                    nextSequence: UInt64(Self.count + 1), consumerPosition: 1, consumerPositionReset: true), "byte \(offset)")
                queue.close()
                #expect(try fileBytes(copy + "/" + Self.segment).count == end)
                #expect(try fileBytes(copy + "/\(Self.segment).truncated-\(end)") == Array(damaged[end...]))
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    /// `readRecords` asked for sequences past the last record (its limit comes from the writer)
    /// stops at the zero tail, and reports damage there.
    @Test func durableReaderStopsAtTheZeroTail() throws {
        try withTemporaryDirectory { base in
            let (end, _) = try makeQueue(base)
            let all = try QueueReader.records(in: base)
            let reader = DurableRecordReader(directory: base, maxRecordBytes: 1 << 20)
            #expect(try reader.records(from: 1, maxCount: 100, limit: 100) == all)
            #expect(try reader.records(from: 4, maxCount: 100, limit: 100) == Array(all[3...]))
            #expect(try reader.records(from: 6, maxCount: 100, limit: 100) == [])

            let path = base + "/" + Self.segment
            var bytes = try fileBytes(path)
            bytes[end + 100] = 7
            try writeFile(path, bytes)
            let fresh = DurableRecordReader(directory: base, maxRecordBytes: 1 << 20)
            #expect(throws: DiskQueueError.corrupt(path: path, offset: end, reason: "record checksum mismatch")) {
                try fresh.records(from: 1, maxCount: 100, limit: 100)
            }
        }
    }

    /// Whole records found after a zeroed stretch are kept (a torn batch over prepared space: its
    /// first block lost, later ones written); only the torn record is set aside.
    @Test func recordsAfterZerosInATornBatchAreKept() throws {
        try withTemporaryDirectory { base in
            let (end, _) = try makeQueue(base)
            let path = base + "/" + Self.segment
            var bytes = try fileBytes(path)
            // Records 3-5 become: record 3 torn (first 10 bytes kept), then 37 zero bytes (not a
            // multiple of anything), then whole records 4 and 5 at odd offsets.
            let third = end - 3 * Self.lastRecord
            let fourAndFive = Array(bytes[(end - 2 * Self.lastRecord)..<end])
            for index in (third + 10)..<(third + 10 + 37) { bytes[index] = 0 }
            bytes.replaceSubrange((third + 47)..<(third + 47 + fourAndFive.count), with: fourAndFive)
            try writeFile(path, bytes)

            let queue = try DiskQueue(directory: base, options: Self.options)
            #expect(queue.recovery.records == 4)
            #expect(queue.recovery.truncatedBytes == 0)
            #expect(queue.recovery.damaged.map(\.sequences) == [3...3])
            #expect(queue.recovery.damaged.map(\.bytes) == [47])
            #expect(queue.recovery.nextSequence == 6)
            #expect(try queue.append([payload(6)]) == 6..<7)
            queue.close()
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1, 2, 4, 5, 6])
        }
    }

    /// A sealed segment whose last records were zeroed (a disk that lost written data): recovery
    /// says so with its own entry (where, how many bytes, which sequences), not only through the
    /// missing sequences; the records before and after are kept.
    @Test func zeroedRecordsAtTheEndOfASealedSegmentAreReportedAsLost() throws {
        try withTemporaryDirectory { base in
            let options = DiskQueueOptions(segmentBytes: 200, preallocationBytes: 0)
            do {
                let queue = try DiskQueue(directory: base, options: options)
                for index in 1...12 { _ = try queue.append([payload(index, size: 30)]) }
                queue.close()
            }
            let files = try segmentFiles(in: base)
            #expect(files.count >= 3)
            let first = files[0]
            let path = base + "/" + first
            var bytes = try fileBytes(path)
            let end = try committedEnd(of: path)
            #expect(end == bytes.count, "a sealed segment has no prepared zeros")
            let records = (end - SegmentHeader.size) / Self.lastRecord
            #expect(records >= 2)
            // The last two records of the first segment become zeros, the file keeps its length.
            let zeroFrom = end - 2 * Self.lastRecord
            for offset in zeroFrom..<end { bytes[offset] = 0 }
            try writeFile(path, bytes)
            let lost = UInt64(records - 1)...UInt64(records)

            let queue = try DiskQueue(directory: base, options: options)
            #expect(queue.recovery.zeroedTails == [ZeroedTail(segment: first, offset: zeroFrom, bytes: 2 * Self.lastRecord, sequences: lost)])
            #expect(queue.recovery.missingSequences == [lost])
            #expect(queue.recovery.damaged.isEmpty)
            #expect(queue.recovery.records == 12 - 2)
            queue.close()
            #expect(try fileBytes(path).count == zeroFrom, "the zeros were cut")
            // Told once: the next open finds a clean segment, and the sequences still missing.
            let again = try DiskQueue(directory: base, options: options)
            #expect(again.recovery.zeroedTails.isEmpty)
            #expect(again.recovery.missingSequences == [lost])
            again.close()
        }
    }
}
