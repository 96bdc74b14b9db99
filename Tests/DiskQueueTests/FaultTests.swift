import Foundation
import Testing
@testable import DiskQueue

@Suite struct FaultTests {
    /// One record of this payload size fills a segment, so every append after the first creates
    /// one (and seals the one before). For `prepareSpace`, segments are one byte larger, so that
    /// every segment also gets (one byte of) prepared space, cut again when it is sealed.
    private static let payloadSize = 24
    private static func options(_ faults: FaultInjector?, for point: FaultPoint? = nil) -> DiskQueueOptions {
        let extra = point == .prepareSpace ? 1 : 0
        return DiskQueueOptions(segmentBytes: SegmentHeader.size + 16 + payloadSize + extra, faults: faults)
    }

    // Every point on the append path; `writeConsumerPosition` belongs to setConsumerPosition
    // (ConsumerPositionTests), and `removeSegmentLeftover` fires only after a shortage
    // (ResourceShortageTests).
    @Test(arguments: FaultPoint.allCases.filter { $0 != .writeConsumerPosition && $0 != .removeSegmentLeftover })
    func injectedFailureStopsAcknowledgingAndReopenRecovers(point: FaultPoint) throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            var acknowledged: [QueueRecord] = []
            do {
                let queue = try DiskQueue(directory: base, options: Self.options(faults.injector, for: point))
                for index in 1...5 {
                    let body = payload(index, size: Self.payloadSize)
                    let range = try queue.append([body])
                    acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: body))
                }
                #expect(faults.hits(point) >= 4)
                faults.arm(point)
                #expect(throws: DiskQueueError.system(FaultSwitch.injected)) {
                    try queue.append([payload(6, size: Self.payloadSize)])
                }
                #expect(queue.isFailed)
                faults.arm(nil)

                // Failed state: refused at once, with no more I/O.
                let hitsAfterFailure = faults.hits(point)
                let error = try #require(throws: DiskQueueError.self) { try queue.append([payload(7, size: Self.payloadSize)]) }
                guard case .failed = error else {
                    Issue.record("expected .failed, got \(error)")
                    return
                }
                let completions = Completions()
                queue.append([payload(8, size: Self.payloadSize)], completion: completions.handler)
                #expect(completions.wait(for: 1))
                #expect(completions.all.first?.failure == error)
                #expect(faults.hits(point) == hitsAfterFailure)
                #expect(queue.stats.records == 5)
                queue.close()
            }

            let reopened = try DiskQueue(directory: base, options: Self.options(nil, for: point))
            let records = try QueueReader.records(in: base)
            // Nothing acknowledged is missing, and what is there is a gap-free prefix.
            #expect(Array(records.prefix(acknowledged.count)) == acknowledged)
            #expect(records.map(\.sequence) == Array(1...UInt64(records.count)))
            #expect(reopened.recovery.nextSequence == UInt64(records.count + 1))
            #expect(reopened.recovery.quarantinedFiles == [])
            let body = payload(100, size: Self.payloadSize)
            let range = try reopened.append([body])
            #expect(range == reopened.recovery.nextSequence..<(reopened.recovery.nextSequence + 1))
            reopened.close()
            #expect(try QueueReader.records(in: base).last == QueueRecord(sequence: range.lowerBound, payload: body))
        }
    }

    @Test func everyAppendInAFailedBatchFails() throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            let gate = WriterGate()
            let injector = faults.injector
            let queue = try DiskQueue(directory: base, options: .init(faults: FaultInjector { point in
                try injector.fire(point)
                gate.hold(at: point)
            }))
            let first = Completions()
            queue.append([payload(0)], completion: first.handler)
            #expect(gate.waitUntilHeld())
            let batch = Completions()
            for index in 1...10 {
                queue.append([payload(index)], completion: batch.handler)
            }
            faults.arm(.beforeWrite)
            gate.release()
            #expect(first.wait(for: 1))
            #expect(batch.wait(for: 10))
            #expect(try first.all[0].get() == 1..<2)
            #expect(batch.all.map(\.failure) == Array(repeating: .system(FaultSwitch.injected), count: 10))
            #expect(queue.stats.syncs == 1)
            queue.close()
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1])
        }
    }
}
