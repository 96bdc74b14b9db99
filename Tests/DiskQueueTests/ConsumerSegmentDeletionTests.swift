import Foundation
import Synchronization
import SystemSupport
import Testing
@testable import DiskQueue

/// Deleting consumed segments when space is short, and never too early.
@Suite struct ConsumerSegmentDeletionTests {
    @Test func fullDiskWhileStoringThePositionDeletesConsumedSegmentsFirst() throws {
        try withTemporaryDirectory { base in
            // Fails the first `failures` writes of the position file with ENOSPC.
            let failures = Mutex(0)
            let injector = FaultInjector { point in
                guard point == .writeConsumerPosition else { return }
                let fail = failures.withLock { count -> Bool in
                    defer { count = max(0, count - 1) }
                    return count > 0
                }
                if fail { throw SystemCallError(call: "write", errno: ENOSPC) }
            }
            let options = DiskQueueOptions(segmentBytes: ConsumerPositionTests.options.segmentBytes, faults: injector)
            do {
                let queue = try DiskQueue(directory: base, options: options)
                for index in 1...12 { _ = try queue.append([payload(index)]) }
                try queue.setConsumerPosition(3)

                // Once: the consumed segments make room, and the second write stores the position.
                failures.withLock { $0 = 1 }
                try queue.setConsumerPosition(5)
                #expect(queue.consumerPosition == 5)
                #expect(try QueueReader.consumerPosition(in: base) == 5)
                #expect(try segmentFiles(in: base).first == "segment-00000000000000000005.log")

                // Twice: the segments are gone but the old position stays in force.
                failures.withLock { $0 = 2 }
                #expect(throws: DiskQueueError.system(SystemCallError(call: "write", errno: ENOSPC))) {
                    try queue.setConsumerPosition(9)
                }
                #expect(queue.consumerPosition == 5)
                #expect(try QueueReader.consumerPosition(in: base) == 5)
                #expect(try segmentFiles(in: base).first == "segment-00000000000000000009.log")
                #expect(queue.liveBytes == (try totalSegmentBytes(in: base)))
                queue.close()
            }
            // Records 5-8 were handled and are gone: recovery starts at the earliest one left.
            let reopened = try DiskQueue(directory: base, options: ConsumerPositionTests.options)
            #expect(reopened.recovery.consumerPositionReset)
            #expect(reopened.consumerPosition == 9)
            reopened.close()
        }
    }

    @Test func segmentIsKeptUntilTheNextOneHoldsADurableRecord() throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: ConsumerPositionTests.options.segmentBytes, faults: faults.injector))
            defer { queue.close() }
            #expect(try queue.append([payload(1), payload(2)]) == 1..<3)
            // Segment 3 is created, then the disk is full: it holds only its header.
            faults.arm(.beforeWrite, errno: ENOSPC)
            #expect(thrownError { _ = try queue.append([payload(3)]) }?.isDiskFull == true)
            faults.arm(nil)
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000001.log", "segment-00000000000000000003.log"])
            try queue.setConsumerPosition(3)
            #expect(try segmentFiles(in: base).count == 2)
            #expect(try queue.append([payload(3)]) == 3..<4)
            try queue.setConsumerPosition(3)
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000003.log"])
        }
    }
}
