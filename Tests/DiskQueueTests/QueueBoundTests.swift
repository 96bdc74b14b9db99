import Foundation
import Testing
@testable import DiskQueue

@Suite struct QueueBoundTests {
    /// Two records of the default payload size (40 encoded bytes each) fill a segment.
    private static let segmentBytes = SegmentHeader.size + 2 * (16 + 24)

    @Test func boundRefusesUntilTheConsumerFreesWholeSegments() throws {
        try withTemporaryDirectory { base in
            let options = DiskQueueOptions(segmentBytes: Self.segmentBytes, maxQueueBytes: 3 * Self.segmentBytes)
            let queue = try DiskQueue(directory: base, options: options)
            #expect(queue.liveBytes == 0)
            for index in 1...6 {
                #expect(try queue.append([payload(index)]) == UInt64(index)..<UInt64(index + 1))
            }
            #expect(queue.liveBytes == 3 * Self.segmentBytes)
            #expect(queue.liveBytes == (try totalSegmentBytes(in: base)))
            // Record 7 needs a new segment: 24 + 40 bytes more than the bound allows.
            #expect(throws: DiskQueueError.queueFull(limit: 3 * Self.segmentBytes)) { try queue.append([payload(7)]) }
            #expect(!queue.isFailed)
            #expect(queue.nextSequence == 7)

            try queue.setConsumerPosition(3)
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000003.log", "segment-00000000000000000005.log"])
            #expect(queue.liveBytes == 2 * Self.segmentBytes)
            #expect(try queue.append([payload(7)]) == 7..<8)
            #expect(try queue.append([payload(8)]) == 8..<9)  // exactly at the bound
            #expect(queue.liveBytes == 3 * Self.segmentBytes)
            #expect(throws: DiskQueueError.queueFull(limit: 3 * Self.segmentBytes)) { try queue.append([payload(9)]) }
            #expect(try queue.readRecords(from: 3, maxCount: 100).map(\.sequence) == Array(3...8))
            queue.close()

            let reopened = try DiskQueue(directory: base, options: options)
            #expect(reopened.liveBytes == (try totalSegmentBytes(in: base)))
            #expect(reopened.liveBytes == 3 * Self.segmentBytes)
            #expect(reopened.consumerPosition == 3)
            #expect(throws: DiskQueueError.queueFull(limit: 3 * Self.segmentBytes)) { try reopened.append([payload(9)]) }
            try reopened.setConsumerPosition(9)
            #expect(reopened.liveBytes == Self.segmentBytes)
            #expect(try reopened.append([payload(9)]) == 9..<10)
            reopened.close()
        }
    }

    /// `liveBytes` counts committed bytes: the file sizes, less the prepared zeros of the last segment.
    @Test(arguments: preallocations)
    func liveBytesFollowTheFilesThroughRecovery(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let options = DiskQueueOptions(segmentBytes: 200, preallocationBytes: preallocation)
            let queue = try DiskQueue(directory: base, options: options)
            for index in 1...25 { _ = try queue.append([payload(index, size: 10 + index)]) }
            #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
            if preallocation == 0 { #expect(queue.liveBytes == (try totalSegmentBytes(in: base))) }
            queue.close()
            // A torn tail is cut by recovery and no longer counted.
            let last = base + "/" + (try segmentFiles(in: base).last!)
            #expect(truncate(last, off_t(try committedEnd(of: last) - 5)) == 0)
            let reopened = try DiskQueue(directory: base, options: options)
            #expect(reopened.recovery.truncatedBytes > 0)
            #expect(reopened.liveBytes == (try committedSegmentBytes(in: base)))
            #expect(reopened.liveBytes == (try totalSegmentBytes(in: base)))
            reopened.close()
        }
    }
}
