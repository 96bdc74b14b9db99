import Foundation
import Synchronization
import Testing
@testable import DiskQueue

@Suite struct ReadRecordsTests {
    @Test func pagesThroughEverySegmentInOrder() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: 200))
            defer { queue.close() }
            for index in 1...60 { _ = try queue.append([payload(index, size: 10 + index % 37)]) }
            let all = try QueueReader.records(in: base)
            #expect(all.count == 60)
            #expect(try segmentFiles(in: base).count > 10)

            for pageSize in [1, 7, 60, 100] {
                var read: [QueueRecord] = []
                var next: UInt64 = 1
                while true {
                    let page = try queue.readRecords(from: next, maxCount: pageSize)
                    #expect(page.count <= pageSize)
                    guard let last = page.last else { break }
                    read += page
                    next = last.sequence + 1
                }
                #expect(read == all, "page size \(pageSize)")
            }
            // Starting anywhere, also before the cached position of the last read.
            for from in [UInt64(0), 1, 2, 17, 33, 59, 60] {
                #expect(try queue.readRecords(from: from, maxCount: 5) == Array(all.filter { $0.sequence >= from }.prefix(5)))
            }
            #expect(try queue.readRecords(from: 61, maxCount: 5) == [])
            #expect(try queue.readRecords(from: 1, maxCount: 0) == [])
        }
    }

    @Test func recordLargerThanOneReadChunkIsReadWhole() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            defer { queue.close() }
            let bodies = [payload(1, size: 10), payload(2, size: 200_000), payload(3, size: 65_530), payload(4, size: 1)]
            _ = try queue.append(bodies)
            #expect(try queue.readRecords(from: 1, maxCount: 10).map(\.payload) == bodies)
            #expect(try queue.readRecords(from: 3, maxCount: 10).map(\.payload) == Array(bodies[2...]))
        }
    }

    /// The batch's bytes are in the file while the writer is held, but not durable yet (or not
    /// acknowledged yet): readRecords must not return them.
    @Test(arguments: [FaultPoint.afterWriteBeforeSync, .afterSyncBeforeAck])
    func recordsOfABatchInProgressAreNotReturned(point: FaultPoint) throws {
        try withTemporaryDirectory { base in
            let gate = PointGate(at: point)
            let queue = try DiskQueue(directory: base, options: .init(faults: gate.injector))
            defer { queue.close() }
            _ = try queue.append([payload(1)])
            gate.arm()
            let completions = Completions()
            queue.append([payload(2), payload(3)], completion: completions.handler)
            #expect(gate.waitUntilHeld())
            // The bytes are there: a reader that ignores durability sees them.
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1, 2, 3])
            #expect(try queue.readRecords(from: 1, maxCount: 10).map(\.sequence) == [1])
            #expect(try queue.readRecords(from: 2, maxCount: 10) == [])
            #expect(throws: DiskQueueError.invalidPosition(requested: 3, allowed: 1...2)) { try queue.setConsumerPosition(3) }
            #expect(completions.all.isEmpty)
            gate.release()
            #expect(completions.wait(for: 1))
            #expect(try completions.all[0].get() == 2..<4)
            #expect(try queue.readRecords(from: 2, maxCount: 10).map(\.payload) == [payload(2), payload(3)])
        }
    }

    @Test func consumerKeepsUpWithConcurrentAppends() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: 300))
            let total = 400
            let appenders = 4
            let completions = Completions()
            let handler = completions.handler
            for thread in 0..<appenders {
                Thread {
                    for index in stride(from: thread, to: total, by: appenders) {
                        queue.append([payload(index, size: 8 + index % 50)], completion: handler)
                    }
                }.start()
            }
            // The consumer: read what is durable, "deliver" it, store the position.
            var delivered: [QueueRecord] = []
            let deadline = Date().addingTimeInterval(60)
            while delivered.count < total, Date() < deadline {
                let page = try queue.readRecords(from: queue.consumerPosition, maxCount: 25)
                if let last = page.last {
                    #expect(last.sequence < queue.nextSequence)
                    delivered += page
                    try queue.setConsumerPosition(last.sequence + 1)
                }
            }
            #expect(completions.wait(for: total))
            #expect(delivered.map(\.sequence) == Array(1...UInt64(total)))
            #expect(Set(delivered.map(\.payload)) == Set((0..<total).map { payload($0, size: 8 + $0 % 50) }))
            #expect(try segmentFiles(in: base).count == 1)
            #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
            queue.close()
            #expect(try QueueReader.consumerPosition(in: base) == UInt64(total + 1))
        }
    }

    @Test func damagedCommittedRecordIsReportedNotSkipped() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: 200))
            defer { queue.close() }
            for index in 1...12 { _ = try queue.append([payload(index)]) }
            let first = base + "/segment-00000000000000000001.log"
            var bytes = try fileBytes(first)
            bytes[24 + 40 + 16] ^= 1  // a payload byte of record 2
            try writeFile(first, bytes)
            #expect(throws: DiskQueueError.corrupt(path: first, offset: 24 + 40, reason: "record checksum mismatch")) {
                try queue.readRecords(from: 1, maxCount: 10)
            }
        }
    }
}
