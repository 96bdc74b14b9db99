import Foundation
import SystemSupport
import Testing
@testable import DiskQueue

/// The writer's prepared space: zeros written and synced ahead of the committed end, so most
/// batches overwrite allocated blocks instead of growing the file.
@Suite struct PreallocationTests {
    private static let chunk = DiskQueueOptions().preallocationBytes
    private static let firstSegment = "segment-00000000000000000001.log"

    @Test func recordsWrittenIntoPreparedSpaceSurviveReopen() throws {
        try withTemporaryDirectory { base in
            var expected: [QueueRecord] = []
            do {
                let queue = try DiskQueue(directory: base)
                for index in 1...10 {
                    let bodies = (0..<(index % 3 + 1)).map { payload(index * 10 + $0, size: 20 + index) }
                    let range = try queue.append(bodies)
                    expected += zip(range, bodies).map { QueueRecord(sequence: $0, payload: $1) }
                }
                // One chunk of zeros, prepared and synced once; every batch went into it.
                #expect(try fileBytes(base + "/" + Self.firstSegment).count == SegmentHeader.size + Self.chunk)
                #expect(queue.stats.prepareSyncs == 1)
                #expect(queue.stats.preparedBytes == UInt64(Self.chunk))
                #expect(queue.stats.syncs == 10)
                #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
                #expect(try queue.readRecords(from: 1, maxCount: 100) == expected)
                queue.close()
            }
            #expect(try QueueReader.records(in: base) == expected)
            let reopened = try DiskQueue(directory: base)
            #expect(reopened.recovery == RecoveryReport(
                segments: 1, records: expected.count, truncatedBytes: 0, quarantinedFiles: [],
                nextSequence: UInt64(expected.count + 1), consumerPosition: 1, consumerPositionReset: true))
            #expect(try reopened.readRecords(from: 1, maxCount: 100) == expected)
            reopened.close()
            #expect(try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.contains(".truncated-") || $0.contains(".bad") } == [])
            #expect(try QueueReader.records(in: base) == expected)
        }
    }

    @Test func appendAfterReopenGoesRightAfterTheLastRecord() throws {
        try withTemporaryDirectory { base in
            let segment = base + "/" + Self.firstSegment
            do {
                let queue = try DiskQueue(directory: base)
                for index in 1...3 { _ = try queue.append([payload(index)]) }
                queue.close()
            }
            let size = try fileBytes(segment).count
            let end = try committedEnd(of: segment)
            #expect(end == SegmentHeader.size + 3 * (16 + 24))
            #expect(size == SegmentHeader.size + Self.chunk)

            let reopened = try DiskQueue(directory: base)
            #expect(reopened.recovery.truncatedBytes == 0)
            #expect(reopened.recovery.quarantinedFiles == [])
            #expect(reopened.liveBytes == end)
            #expect(try reopened.append([payload(4)]) == 4..<5)
            // Written over the zeros, no size change and no new preparation.
            #expect(reopened.stats.prepareSyncs == 0)
            #expect(reopened.liveBytes == end + 16 + 24)
            reopened.close()

            let bytes = try fileBytes(segment)
            #expect(bytes.count == size)
            let decoded = bytes.withUnsafeBytes { RecordCodec.decode($0, at: end, maxRecordBytes: 1 << 20) }
            #expect(decoded == .record(sequence: 4, payload: (end + 16)..<(end + 16 + 24), end: end + 16 + 24))
            #expect(Array(bytes[(end + 16)..<(end + 40)]) == payload(4))
            #expect(bytes[(end + 40)...].allSatisfy { $0 == 0 })
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1, 2, 3, 4])
        }
    }

    /// Every sealed segment ends exactly after its last record; only the last one may hold zeros.
    @Test(arguments: preallocations)
    func rollOverCutsSealedSegmentsToTheirExactSize(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let options = DiskQueueOptions(segmentBytes: 2048, preallocationBytes: preallocation)
            let queue = try DiskQueue(directory: base, options: options)
            for index in 1...300 { _ = try queue.append([payload(index, size: 10 + index % 50)]) }
            let files = try segmentFiles(in: base)
            #expect(files.count > 5)
            for file in files.dropLast() {
                let path = base + "/" + file
                #expect(try fileBytes(path).count == (try committedEnd(of: path)), "\(file)")
            }
            let last = base + "/" + files.last!
            #expect(try fileBytes(last).count <= 2048)
            if preallocation == 0 {
                #expect(queue.stats.prepareSyncs == 0)
                #expect(try fileBytes(last).count == (try committedEnd(of: last)))
            } else {
                // Each segment was prepared once, up to segmentBytes.
                #expect(queue.stats.prepareSyncs == UInt64(files.count))
                #expect(try fileBytes(last).count == 2048)
            }
            #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
            queue.close()
            #expect(try QueueReader.records(in: base).map(\.sequence) == Array(1...300))
        }
    }

    @Test func liveBytesCountCommittedBytesAcrossReopenAndDeletion() throws {
        try withTemporaryDirectory { base in
            let options = DiskQueueOptions(segmentBytes: 1000)
            do {
                let queue = try DiskQueue(directory: base, options: options)
                for index in 1...60 { _ = try queue.append([payload(index, size: 10 + index % 30)]) }
                #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
                #expect(queue.liveBytes < (try totalSegmentBytes(in: base)))
                queue.close()
            }
            let queue = try DiskQueue(directory: base, options: options)
            defer { queue.close() }
            #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
            for position: UInt64 in [5, 20, 21, 45, 61] {
                try queue.setConsumerPosition(position)
                #expect(queue.liveBytes == (try committedSegmentBytes(in: base)), "position \(position)")
            }
            // Everything consumed: only the last segment is left, with its records still counted.
            #expect(try segmentFiles(in: base).count == 1)
            #expect(queue.liveBytes > SegmentHeader.size)
            for index in 61...100 { _ = try queue.append([payload(index, size: 30)]) }
            try queue.setConsumerPosition(101)
            #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
            // Sealed segments are exact, so the files differ from it by the last one's zeros only.
            let last = base + "/" + (try segmentFiles(in: base).last!)
            #expect(try totalSegmentBytes(in: base) - queue.liveBytes == (try fileBytes(last).count) - (try committedEnd(of: last)))
        }
    }

    /// The prepared space stays within `maxQueueBytes`: the files never take more than the bound.
    @Test func preparedSpaceStaysWithinTheQueueBound() throws {
        try withTemporaryDirectory { base in
            let limit = 1000
            let queue = try DiskQueue(directory: base, options: .init(maxQueueBytes: limit))
            defer { queue.close() }
            var appended = 0
            while true {
                if let error = thrownError({ _ = try queue.append([payload(appended, size: 40)]) }) {
                    #expect(error == .queueFull(limit: limit))
                    break
                }
                appended += 1
                #expect(try totalSegmentBytes(in: base) <= limit)
                #expect(queue.liveBytes <= limit)
            }
            #expect(appended == (limit - SegmentHeader.size) / 56)
            #expect(try totalSegmentBytes(in: base) == limit)
            #expect(!queue.isFailed)
        }
    }

    @Test(arguments: [ENOSPC, EDQUOT])
    func fullDiskWhilePreparingFailsTheBatchButNotTheQueue(code: Int32) throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            let segment = base + "/" + Self.firstSegment
            let options = DiskQueueOptions(faults: faults.injector, preallocationBytes: 4096)
            do {
                let queue = try DiskQueue(directory: base, options: options)
                #expect(try queue.append([payload(1)]) == 1..<2)
                #expect(try fileBytes(segment).count == SegmentHeader.size + 4096)
                let live = queue.liveBytes
                faults.arm(.prepareSpace, errno: code)
                // Does not fit in the prepared space: more must be prepared first, which fails.
                let error = thrownError { _ = try queue.append([payload(2, size: 5000)]) }
                #expect(error?.isDiskFull == true, "\(String(describing: error))")
                #expect(!queue.isFailed)
                #expect(faults.hits(.beforeWrite) == 1)  // the batch was never written
                // Cut back to the committed end, the earlier prepared space included.
                #expect(try fileBytes(segment).count == SegmentHeader.size + 16 + 24)
                #expect(queue.liveBytes == live)
                #expect(queue.nextSequence == 2)
                #expect(queue.stats.records == 1)

                faults.arm(nil)
                #expect(try queue.append([payload(2, size: 5000)]) == 2..<3)
                #expect(try queue.append([payload(3)]) == 3..<4)
                queue.close()
            }
            let reopened = try DiskQueue(directory: base, options: .init(preallocationBytes: 4096))
            #expect(reopened.recovery.truncatedBytes == 0)
            #expect(reopened.recovery.nextSequence == 4)
            reopened.close()
            #expect(try QueueReader.records(in: base).map(\.payload) == [payload(1), payload(2, size: 5000), payload(3)])
        }
    }

    @Test func negativePreallocationIsRefused() throws {
        try withTemporaryDirectory { base in
            let error = thrownError { _ = try DiskQueue(directory: base, options: .init(preallocationBytes: -1)) }
            #expect(error == .invalidOptions(reason: "preallocationBytes must be 0 (no preallocation) or positive"))
        }
    }
}
