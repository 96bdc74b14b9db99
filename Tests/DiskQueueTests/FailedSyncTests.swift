import Foundation
import SystemSupport
import Testing
@testable import DiskQueue

/// A batch whose write or fdatasync failed got 503: its records must not be on disk, neither for
/// a reader now nor for the next open (which would otherwise deliver them).
@Suite struct FailedSyncTests {
    /// Four records of the default payload size fill a segment.
    private static let segmentBytes = SegmentHeader.size + 4 * (16 + 24)

    @Test(arguments: [FaultPoint.afterWriteBeforeSync, .afterSyncBeforeAck, .beforeWrite], preallocations)
    func refusedBatchIsCutOffAndNeverComesBack(point: FaultPoint, preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            var acknowledged: [QueueRecord] = []
            do {
                let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, faults: faults.injector,
                                                                          preallocationBytes: preallocation))
                // Five records: the second segment holds one, so the refused batch goes into a
                // segment that already has acknowledged records ahead of it.
                for index in 1...5 {
                    let range = try queue.append([payload(index)])
                    acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: payload(index)))
                }
                faults.arm(point)
                #expect(throws: DiskQueueError.system(FaultSwitch.injected)) {
                    try queue.append([payload(6), payload(7)])
                }
                #expect(queue.isFailed)
                faults.arm(nil)
                let last = base + "/" + (try #require(try segmentFiles(in: base).last))
                // Cut back to the last synced end: no refused byte and no prepared zeros remain.
                #expect(try fileBytes(last).count == (try committedEnd(of: last)))
                #expect(try QueueReader.records(in: base) == acknowledged)
                queue.close()
            }
            let reopened = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, preallocationBytes: preallocation))
            #expect(reopened.recovery.nextSequence == 6)
            #expect(reopened.recovery.truncatedBytes == 0)
            #expect(reopened.recovery.quarantinedFiles == [])
            #expect(try reopened.readRecords(from: 1, maxCount: 100).map(\.payload) == acknowledged.map(\.payload))
            // The sequences of the refused batch are given to the next records, with new payloads.
            #expect(try reopened.append([payload(100)]) == 6..<7)
            reopened.close()
            #expect(try QueueReader.records(in: base) == acknowledged + [QueueRecord(sequence: 6, payload: payload(100))])
        }
    }
}
