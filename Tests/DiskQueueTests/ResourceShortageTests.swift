import Foundation
import Synchronization
import SystemSupport
import Testing
@testable import DiskQueue

/// Running out of file descriptors (or memory) when the writer needs the next segment refuses
/// the batches while it lasts, and the queue takes appends again afterwards, without reopening.
@Suite struct ResourceShortageTests {
    /// Two records of the default payload size fill a segment.
    private static let segmentBytes = SegmentHeader.size + 2 * (16 + 24)

    @Test(arguments: [FaultPoint.createSegment, .writeSegmentHeader], [EMFILE, ENFILE, ENOMEM])
    func shortageWhileRollingRefusesBatchesUntilItPasses(point: FaultPoint, code: Int32) throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            var acknowledged: [QueueRecord] = []
            do {
                let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, faults: faults.injector))
                for index in 1...2 {
                    let range = try queue.append([payload(index)])
                    acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: payload(index)))
                }
                let filesBefore = try segmentFiles(in: base)
                let liveBefore = queue.liveBytes
                faults.arm(point, errno: code)
                for index in 3...5 {
                    let error = thrownError { _ = try queue.append([payload(index)]) }
                    guard case let .resourcesExhausted(cause) = error else {
                        Issue.record("expected .resourcesExhausted, got \(String(describing: error))")
                        return
                    }
                    #expect(cause.errno == code)
                    #expect(!queue.isFailed)
                    // Nothing half-created stays behind to block the next try.
                    #expect(try segmentFiles(in: base) == filesBefore)
                }
                #expect(queue.nextSequence == 3)
                #expect(queue.liveBytes == liveBefore)
                #expect(queue.stats.records == 2)

                // Descriptors are back: the next batch rolls over, and appending goes on.
                faults.arm(nil)
                for index in 6...9 {
                    let range = try queue.append([payload(index)])
                    #expect(range.lowerBound == UInt64(acknowledged.count + 1))
                    acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: payload(index)))
                }
                #expect(try segmentFiles(in: base).count == 3)
                #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
                queue.close()
            }
            #expect(try QueueReader.records(in: base) == acknowledged)
            let reopened = try DiskQueue(directory: base)
            #expect(reopened.recovery.truncatedBytes == 0)
            #expect(reopened.recovery.quarantinedFiles == [])
            #expect(reopened.recovery.nextSequence == UInt64(acknowledged.count + 1))
            reopened.close()
        }
    }

    /// The shortage hits the cleanup of the half-created segment too: still only a refusal, and
    /// the leftover file goes at the next creation instead of blocking the name for good.
    @Test func shortageThatAlsoHitsTheCleanupStaysTransient() throws {
        try withTemporaryDirectory { base in
            let armed = Mutex<Set<FaultPoint>>([])
            let faults = FaultInjector { point in
                if armed.withLock({ $0.contains(point) }) { throw SystemCallError(call: "open", errno: ENOMEM) }
            }
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, faults: faults))
            for index in 1...2 { _ = try queue.append([payload(index)]) }
            armed.withLock { $0 = [.writeSegmentHeader, .removeSegmentLeftover] }
            for index in 3...4 {
                guard case .resourcesExhausted = thrownError({ _ = try queue.append([payload(index)]) }) else {
                    Issue.record("expected .resourcesExhausted")
                    return
                }
                #expect(!queue.isFailed)
            }
            // The half-created segment is still there: its removal failed.
            #expect(try segmentFiles(in: base).count == 2)
            armed.withLock { $0 = [] }
            #expect(try queue.append([payload(5)]) == 3..<4)
            #expect(try queue.append([payload(6)]) == 4..<5)
            queue.close()
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1, 2, 3, 4])
        }
    }

    /// A new queue's first segment: no active segment to fall back on, the same outcome.
    @Test func shortageBeforeTheFirstSegmentPasses() throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            let queue = try DiskQueue(directory: base, options: .init(faults: faults.injector))
            faults.arm(.createSegment, errno: EMFILE)
            let error = thrownError { _ = try queue.append([payload(1)]) }
            #expect(error == .resourcesExhausted(SystemCallError(call: "pwrite", errno: EMFILE)))
            #expect(try segmentFiles(in: base).isEmpty)
            faults.arm(nil)
            #expect(try queue.append([payload(2)]) == 1..<2)
            queue.close()
            #expect(try QueueReader.records(in: base) == [QueueRecord(sequence: 1, payload: payload(2))])
        }
    }

    /// A shortage is not an I/O error: EIO at the same points still stops the queue (FaultTests),
    /// and a failed sync stops it whatever its errno.
    @Test func failedSyncStopsTheQueueEvenForAShortageErrno() throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            let queue = try DiskQueue(directory: base, options: .init(faults: faults.injector))
            _ = try queue.append([payload(1)])
            faults.arm(.afterWriteBeforeSync, errno: ENOMEM)
            #expect(throws: DiskQueueError.system(SystemCallError(call: "pwrite", errno: ENOMEM))) {
                try queue.append([payload(2)])
            }
            #expect(queue.isFailed)
            queue.close()
        }
    }
}
