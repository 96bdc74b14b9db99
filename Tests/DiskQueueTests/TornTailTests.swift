import Foundation
import Testing
@testable import DiskQueue

@Suite struct TornTailTests {
    private static let count = 5

    /// A queue of `count` records in one segment; returns the last record's start and end offsets.
    /// With preallocation the file goes on past `end` in zeros.
    private func makeQueue(_ directory: String, preallocation: Int = DiskQueueOptions().preallocationBytes) throws -> (start: Int, end: Int) {
        let queue = try DiskQueue(directory: directory, options: .init(preallocationBytes: preallocation))
        for index in 1...Self.count {
            _ = try queue.append([payload(index, size: 20 + index)])
        }
        queue.close()
        let end = try committedEnd(of: directory + "/" + segmentFiles(in: directory)[0])
        return (end - 16 - (20 + Self.count), end)
    }

    @Test(arguments: preallocations)
    func cutAtEveryOffsetOfTheLastRecordKeepsTheWholeOnes(preallocation: Int) throws {
        let options = DiskQueueOptions(preallocationBytes: preallocation)
        try withTemporaryDirectory { base in
            let original = base + "/original"
            let (start, end) = try makeQueue(original, preallocation: preallocation)
            let whole = Array(try QueueReader.records(in: original).prefix(Self.count - 1))
            let segment = "segment-00000000000000000001.log"
            for cut in start..<end {
                let copy = base + "/cut-\(cut)"
                try copyDirectory(original, to: copy)
                #expect(truncate(copy + "/" + segment, off_t(cut)) == 0)

                #expect(try QueueReader.records(in: copy) == whole)
                let queue = try DiskQueue(directory: copy, options: options)
                #expect(queue.recovery == RecoveryReport(
                    segments: 1, records: Self.count - 1, truncatedBytes: cut - start,
                    quarantinedFiles: [], nextSequence: UInt64(Self.count), consumerPosition: 1, consumerPositionReset: true))
                if cut > start {
                    // The cut-off bytes were set aside, not destroyed.
                    let aside = try fileBytes(copy + "/\(segment).truncated-\(start)")
                    let originalBytes = try fileBytes(original + "/" + segment)
                    #expect(aside == Array(originalBytes[start..<cut]))
                }
                #expect(try queue.append([payload(99)]) == UInt64(Self.count)..<UInt64(Self.count + 1))
                queue.close()

                let again = try DiskQueue(directory: copy, options: options)
                #expect(again.recovery == RecoveryReport(
                    segments: 1, records: Self.count, truncatedBytes: 0,
                    quarantinedFiles: [], nextSequence: UInt64(Self.count + 1), consumerPosition: 1, consumerPositionReset: true))
                again.close()
                #expect(try QueueReader.records(in: copy) == whole + [QueueRecord(sequence: UInt64(Self.count), payload: payload(99))])
                try FileManager.default.removeItem(atPath: copy)
            }
        }
    }

    @Test(arguments: preallocations)
    func recoveryIsIdempotentAfterACrashBeforeTruncating(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let directory = base + "/queue"
            let (start, end) = try makeQueue(directory, preallocation: preallocation)
            let segment = directory + "/segment-00000000000000000001.log"
            let cut = (start + end) / 2
            #expect(truncate(segment, off_t(cut)) == 0)
            // A recovery that wrote the aside copy and then crashed before ftruncate.
            let tail = Array(try fileBytes(segment)[start...])
            try writeFile(segment + ".truncated-\(start)", tail)

            let first = try DiskQueue(directory: directory)
            #expect(first.recovery.truncatedBytes == cut - start)
            #expect(first.recovery.nextSequence == UInt64(Self.count))
            first.close()
            let second = try DiskQueue(directory: directory)
            #expect(second.recovery == RecoveryReport(
                segments: 1, records: Self.count - 1, truncatedBytes: 0,
                quarantinedFiles: [], nextSequence: UInt64(Self.count), consumerPosition: 1, consumerPositionReset: true))
            second.close()
            let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".truncated-") }
            #expect(names == ["segment-00000000000000000001.log.truncated-\(start)"])
        }
    }

    @Test(arguments: preallocations)
    func aDifferentEarlierAsideCopyIsNeverOverwritten(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let directory = base + "/queue"
            let (start, end) = try makeQueue(directory, preallocation: preallocation)
            let segment = directory + "/segment-00000000000000000001.log"
            try writeFile(segment + ".truncated-\(start)", [1, 2, 3])
            #expect(truncate(segment, off_t(end - 1)) == 0)
            let queue = try DiskQueue(directory: directory)
            queue.close()
            #expect(try fileBytes(segment + ".truncated-\(start)") == [1, 2, 3])
            #expect(try fileBytes(segment + ".truncated-\(start).1").count == end - 1 - start)
        }
    }

    @Test(arguments: preallocations)
    func zeroLengthLastSegmentIsDroppedAndRecreated(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let directory = base + "/queue"
            let (_, end) = try makeQueue(directory, preallocation: preallocation)
            // A crash right after a new segment was created, before its header was written.
            try writeFile(directory + "/segment-00000000000000000006.log", [])
            #expect(try QueueReader.records(in: directory).count == Self.count)
            let queue = try DiskQueue(directory: directory, options: .init(segmentBytes: 64))
            #expect(queue.recovery == RecoveryReport(segments: 1, records: Self.count, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 6, consumerPosition: 1, consumerPositionReset: true))
            // Its writer moves on to a new segment, so the old one was sealed: cut to its records.
            #expect(try fileBytes(directory + "/segment-00000000000000000001.log").count == end)
            #expect(try queue.append([payload(6)]) == 6..<7)
            queue.close()
            #expect(try QueueReader.records(in: directory).map(\.sequence) == [1, 2, 3, 4, 5, 6])
        }
    }

    /// With preallocation, segment 1 is a sealed segment ending in zeros here (as an interrupted
    /// roll-over would leave it): a clean end, cut to size, never quarantined.
    @Test(arguments: preallocations)
    func headerOnlyLastSegmentIsKept(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let directory = base + "/queue"
            let (_, end) = try makeQueue(directory, preallocation: preallocation)
            try writeFile(directory + "/segment-00000000000000000006.log", SegmentHeader(firstSequence: 6).encoded())
            #expect(try QueueReader.records(in: directory).count == Self.count)
            let queue = try DiskQueue(directory: directory)
            #expect(queue.recovery == RecoveryReport(segments: 2, records: Self.count, truncatedBytes: 0, quarantinedFiles: [], nextSequence: 6, consumerPosition: 1, consumerPositionReset: true))
            #expect(try fileBytes(directory + "/segment-00000000000000000001.log").count == end)
            #expect(queue.liveBytes == end + SegmentHeader.size)
            #expect(try queue.append([payload(6)]) == 6..<7)
            queue.close()
            #expect(try segmentFiles(in: directory).count == 2)
            #expect(try QueueReader.records(in: directory).map(\.sequence) == [1, 2, 3, 4, 5, 6])
        }
    }
}
