import Foundation
import Testing
@testable import DiskQueue

/// One damaged record costs that record only: recovery resynchronises on the next intact record,
/// keeps every intact one readable in order, sets the damaged bytes aside and reports them.
@Suite struct SalvageTests {
    /// Records of 20-byte payloads are 36 bytes; five fill a segment.
    private static let record = 36
    private static let segmentBytes = SegmentHeader.size + 5 * record

    /// 15 records in segments starting at 1, 6 and 11 (the last one active).
    private func makeQueue(_ directory: String, preallocation: Int) throws -> [QueueRecord] {
        let queue = try DiskQueue(directory: directory, options: .init(segmentBytes: Self.segmentBytes, preallocationBytes: preallocation))
        for index in 1...15 { _ = try queue.append([payload(index, size: 20)]) }
        queue.close()
        #expect(try segmentFiles(in: directory) == [SegmentName(firstSequence: 1), SegmentName(firstSequence: 6), SegmentName(firstSequence: 11)].map(\.fileName))
        return try QueueReader.records(in: directory)
    }

    private func state(of directory: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name != "lock" {
            files[name] = try fileBytes(directory + "/" + name)
        }
        return files
    }

    /// Flips every byte of record 8, the middle one of the sealed segment 6-10, one at a time.
    @Test(arguments: preallocations)
    func aFlippedByteInASealedSegmentSetsAsideThatRecordOnly(preallocation: Int) throws {
        try checkEveryFlip(segmentFirst: 6, sequence: 8, preallocation: preallocation)
    }

    /// Flips every byte of record 13, the middle one of the last (active) segment 11-15.
    @Test(arguments: preallocations)
    func aFlippedByteInTheActiveSegmentSetsAsideThatRecordOnly(preallocation: Int) throws {
        try checkEveryFlip(segmentFirst: 11, sequence: 13, preallocation: preallocation)
    }

    private func checkEveryFlip(segmentFirst: UInt64, sequence: UInt64, preallocation: Int) throws {
        let options = DiskQueueOptions(segmentBytes: Self.segmentBytes, preallocationBytes: preallocation)
        try withTemporaryDirectory { base in
            let original = base + "/original"
            let all = try makeQueue(original, preallocation: preallocation)
            let segment = SegmentName(firstSequence: segmentFirst).fileName
            let bytes = try fileBytes(original + "/" + segment)
            let start = SegmentHeader.size + Int(sequence - segmentFirst) * Self.record
            let part = SegmentName(firstSequence: sequence + 1).fileName
            for index in start..<(start + Self.record) {
                let copy = base + "/flip-\(index)"
                try copyDirectory(original, to: copy)
                var damaged = bytes
                damaged[index] ^= UInt8(1 << (index % 8))
                try writeFile(copy + "/" + segment, damaged)

                let queue = try DiskQueue(directory: copy, options: options)
                let report = queue.recovery
                #expect(report.damaged == [SetAsideDamage(segment: segment, offset: start, bytes: Self.record,
                                                          file: segment + ".damaged-\(start)", sequences: sequence...sequence)], "flip at \(index)")
                #expect(report.missingSequences == [sequence...sequence], "flip at \(index)")
                #expect(report.records == 14)
                #expect(report.nextSequence == 16)
                #expect(report.truncatedBytes == 0)
                #expect(report.quarantinedFiles == [])
                // Every other record, in order, through the consumer's reader too.
                let expected = all.filter { $0.sequence != sequence }
                #expect(try queue.readRecords(from: 1, maxCount: 100) == expected, "flip at \(index)")
                #expect(try queue.append([payload(16, size: 20)]) == 16..<17)
                queue.close()
                #expect(try QueueReader.records(in: copy) == expected + [QueueRecord(sequence: 16, payload: payload(16, size: 20))])
                #expect(try segmentFiles(in: copy).contains(part))
                #expect(try fileBytes(copy + "/" + segment + ".damaged-\(start)") == Array(damaged[start..<(start + Self.record)]))
                #expect(try fileBytes(copy + "/" + segment).count == start)

                // Recovering again changes nothing, and still knows the missing sequence.
                let before = try state(of: copy)
                let again = try DiskQueue(directory: copy, options: options)
                #expect(again.recovery.damaged == [])
                #expect(again.recovery.missingSequences == [sequence...sequence])
                #expect(again.recovery.records == 15)
                again.close()
                #expect(try state(of: copy) == before, "flip at \(index)")
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    /// A recovery interrupted at each step of a split (copy written; copy and new segment
    /// written, damaged segment not cut yet) ends, when run again, in the same files as one
    /// that was not interrupted.
    @Test(arguments: preallocations)
    func aSplitInterruptedAtEachStepEndsTheSame(preallocation: Int) throws {
        let options = DiskQueueOptions(segmentBytes: Self.segmentBytes, preallocationBytes: preallocation)
        try withTemporaryDirectory { base in
            let original = base + "/original"
            _ = try makeQueue(original, preallocation: preallocation)
            let segment = SegmentName(firstSequence: 6).fileName
            var damaged = try fileBytes(original + "/" + segment)
            let start = SegmentHeader.size + 2 * Self.record
            damaged[start + 20] ^= 0x10
            try writeFile(original + "/" + segment, damaged)

            let clean = base + "/clean"
            try copyDirectory(original, to: clean)
            try DiskQueue(directory: clean, options: options).close()
            let expected = try state(of: clean).filter { $0.key != "consumer" }
            let piece = segment + ".damaged-\(start)"
            let part = SegmentName(firstSequence: 9).fileName

            for leftovers in [[piece], [piece, part], [piece, part + ".tmp"]] {
                let interrupted = base + "/interrupted-\(leftovers.count)-\(leftovers.last!)"
                try copyDirectory(original, to: interrupted)
                for name in leftovers {
                    let source = clean + "/" + (name.hasSuffix(".tmp") ? part : name)
                    try writeFile(interrupted + "/" + name, try fileBytes(source))
                }
                let queue = try DiskQueue(directory: interrupted, options: options)
                #expect(queue.recovery.missingSequences == [8...8])
                queue.close()
                // A leftover `.tmp` is overwritten and renamed: nothing else is left.
                let found = try state(of: interrupted).filter { $0.key != "consumer" }
                #expect(found == expected, "left \(leftovers): \(found.filter { expected[$0.key] != $0.value }.map { "\($0.key) \($0.value.count)" }) \(expected.filter { found[$0.key] != $0.value }.map { "\($0.key) \($0.value.count)" })")
            }
        }
    }

    /// A damaged segment header: the records after it are kept under a fresh header.
    @Test func aDamagedHeaderKeepsTheRecords() throws {
        try withTemporaryDirectory { base in
            let all = try makeQueue(base, preallocation: 0)
            let path = base + "/" + SegmentName(firstSequence: 6).fileName
            var bytes = try fileBytes(path)
            bytes[3] ^= 0xFF
            try writeFile(path, bytes)

            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, preallocationBytes: 0))
            #expect(queue.recovery.damaged.map(\.offset) == [0])
            #expect(queue.recovery.damaged.map(\.bytes) == [SegmentHeader.size])
            #expect(queue.recovery.damaged.map(\.sequences) == [nil])
            #expect(queue.recovery.missingSequences == [])
            #expect(queue.recovery.records == 15)
            queue.close()
            #expect(try QueueReader.records(in: base) == all)
        }
    }

    /// Damage that runs to the end of a sealed segment: the records before it stay, the
    /// sequences it held (up to the next segment) are missing.
    @Test func damageAtTheEndOfASealedSegmentKeepsTheRecordsBeforeIt() throws {
        try withTemporaryDirectory { base in
            let all = try makeQueue(base, preallocation: 0)
            let segment = SegmentName(firstSequence: 6).fileName
            var bytes = try fileBytes(base + "/" + segment)
            let start = SegmentHeader.size + 4 * Self.record
            bytes[start + 30] ^= 1
            try writeFile(base + "/" + segment, bytes)

            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, preallocationBytes: 0))
            #expect(queue.recovery.damaged == [SetAsideDamage(segment: segment, offset: start, bytes: Self.record,
                                                             file: segment + ".damaged-\(start)", sequences: 10...10)])
            #expect(queue.recovery.missingSequences == [10...10])
            #expect(queue.recovery.quarantinedFiles == [])
            queue.close()
            #expect(try QueueReader.records(in: base) == all.filter { $0.sequence != 10 })
        }
    }

    /// The consumer counts missing sequences as done: its position passes them, consumed
    /// segments are deleted, and the position survives a reopen.
    @Test func theConsumerPositionPassesMissingSequences() throws {
        try withTemporaryDirectory { base in
            _ = try makeQueue(base, preallocation: 0)
            let segment = SegmentName(firstSequence: 6).fileName
            var bytes = try fileBytes(base + "/" + segment)
            bytes[SegmentHeader.size + 20] ^= 2  // record 6, the first of its segment
            try writeFile(base + "/" + segment, bytes)
            let options = DiskQueueOptions(segmentBytes: Self.segmentBytes, preallocationBytes: 0)

            let queue = try DiskQueue(directory: base, options: options)
            #expect(queue.missingSequences == [6...6])
            #expect(queue.skippingMissing(5) == 5)
            #expect(queue.skippingMissing(6) == 7)
            #expect(queue.skippingMissing(7) == 7)
            try queue.setConsumerPosition(queue.skippingMissing(6))
            #expect(try segmentFiles(in: base).first == SegmentName(firstSequence: 7).fileName)
            queue.close()

            let reopened = try DiskQueue(directory: base, options: options)
            #expect(reopened.consumerPosition == 7)
            #expect(reopened.recovery.consumerPositionReset == false)
            #expect(reopened.missingSequences == [])
            reopened.close()
        }
    }

    @Test func missingSequencesAreTheGapsFromThePosition() {
        #expect(Recovery.missing(held: [1...5, 7...9, 12...12], nextSequence: 15, from: 1) == [6...6, 10...11, 13...14])
        #expect(Recovery.missing(held: [1...5, 7...9], nextSequence: 10, from: 8) == [])
        #expect(Recovery.missing(held: [1...5, 7...9], nextSequence: 10, from: 6) == [6...6])
        #expect(Recovery.missing(held: [], nextSequence: 4, from: 4) == [])
    }

    /// A stretch of garbage between two damaged records is skipped and counted, not queued.
    @Test func garbageBetweenRecordsIsCountedNotQueued() throws {
        let file = SetAsideFile(name: "segment-00000000000000000001.log.damaged-100", kind: .damaged, bytes: 0, salvaged: false)
        let good = Array(#"{"receivedAt":"2026-12-04T00:00:00.000Z","event":{}}"#.utf8)
        func frame(_ payload: [UInt8]) -> [UInt8] {
            let length = UInt32(payload.count)
            return [UInt8(length & 0xff), UInt8(length >> 8 & 0xff), 0, 0] + [UInt8](repeating: 0xee, count: 12) + payload
        }
        let bytes = frame(good) + Array("not a record at all, {not json} either".utf8) + frame(good)
        let found = file.payloads(in: bytes, maxRecordBytes: 1 << 20) { $0.first == UInt8(ascii: "{") && $0.last == UInt8(ascii: "}") && $0.count == good.count }
        #expect(found.payloads == [good, good])
        #expect(found.checksumFailures == 2)
        #expect(found.undecodableStretches == 1)
    }

    /// A crash while the damaged bytes were being copied aside leaves at most a partial file under
    /// a temporary name (never under the set-aside name, where it once looked like a complete
    /// copy): the next recovery writes the whole copy, renames it into place, and neither the
    /// listing nor `queue salvage` sees the partial one.
    @Test func aCopyCutShortByACrashNeverCarriesTheSetAsideName() throws {
        try withTemporaryDirectory { base in
            let directory = base + "/queue"
            _ = try makeQueue(directory, preallocation: 0)
            let segment = SegmentName(firstSequence: 6).fileName
            var bytes = try fileBytes(directory + "/" + segment)
            let start = SegmentHeader.size + 2 * Self.record
            bytes[start + 20] ^= 0x10
            try writeFile(directory + "/" + segment, bytes)
            let name = segment + ".damaged-\(start)"
            try writeFile(directory + "/.partial-" + name, Array(bytes[start..<(start + 7)]))  // what a crash left

            let queue = try DiskQueue(directory: directory, options: .init(segmentBytes: Self.segmentBytes, preallocationBytes: 0))
            defer { queue.close() }
            #expect(queue.recovery.damaged.map(\.file) == [name])
            #expect(try fileBytes(directory + "/" + name) == Array(bytes[start..<(start + Self.record)]))
            #expect(!FileManager.default.fileExists(atPath: directory + "/.partial-" + name))
            #expect(try SetAsideFile.list(in: directory).map(\.name) == [name])
        }
    }
}
