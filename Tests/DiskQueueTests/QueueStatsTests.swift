import Foundation
import Testing
@testable import DiskQueue

@Suite struct QueueStatsTests {
    @Test func syncTimesAndLargestBatchAreCounted() throws {
        try withTemporaryDirectory { base in
            let gate = WriterGate()
            let queue = try DiskQueue(directory: base, options: .init(faults: gate.injector))
            defer { queue.close() }
            let completions = Completions()
            queue.append([payload(0)], completion: completions.handler)
            #expect(gate.waitUntilHeld())
            // Queued while the writer is held: one batch of 10 appends of 3 records.
            for index in 1...10 {
                queue.append([payload(index), payload(index + 100), payload(index + 200)], completion: completions.handler)
            }
            gate.release()
            #expect(completions.wait(for: 11))
            let stats = queue.stats
            #expect(stats.syncs == 2)
            #expect(stats.records == 31)
            #expect(stats.maxBatchRecords == 30)
            #expect(stats.syncNanoseconds > 0)
            #expect(stats.lastSyncNanoseconds > 0)
            #expect(stats.lastSyncNanoseconds <= stats.syncNanoseconds)
            _ = try queue.append([payload(1)])
            #expect(queue.stats.syncNanoseconds == stats.syncNanoseconds + queue.stats.lastSyncNanoseconds)
            #expect(queue.stats.maxBatchRecords == 30)
        }
    }

    @Test func afterSyncBeforeAckRunsBetweenTheSyncAndTheCompletions() throws {
        try withTemporaryDirectory { base in
            let completions = Completions()
            let seen = Completions()
            let queue = try DiskQueue(directory: base, options: .init(faults: FaultInjector { point in
                guard point == .afterSyncBeforeAck else { return }
                // The record is in the file; nobody has been told yet.
                let records = try QueueReader.records(in: base)
                seen.handler(completions.all.isEmpty ? .success(0..<UInt64(records.count)) : .failure(.closed))
            }))
            queue.append([payload(1)], completion: completions.handler)
            #expect(completions.wait(for: 1))
            #expect(seen.wait(for: 1))
            #expect(try seen.all[0].get() == 0..<1)
            #expect(try completions.all[0].get() == 1..<2)
            queue.close()
        }
    }
}
