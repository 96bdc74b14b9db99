import Foundation
import Testing
@testable import DiskQueue

@Suite struct StatsHistogramTests {
    @Test func batchesAndSyncTimesAreBucketed() throws {
        var stats = DiskQueueStats()
        stats.recordBatch(records: 1, syncNanoseconds: 50_000)       // 0.05 ms
        stats.recordBatch(records: 3, syncNanoseconds: 300_000)      // 0.3 ms
        stats.recordBatch(records: 600, syncNanoseconds: 2_000_000_000)  // 2 s: past the last bound
        #expect(stats.syncHistogram[0] == 1)
        #expect(stats.syncHistogram[2] == 1)
        #expect(stats.syncHistogram.last == 1)
        #expect(stats.batchHistogram[0] == 1)
        #expect(stats.batchHistogram[2] == 1)
        #expect(stats.batchHistogram.last == 1)
        #expect(stats.syncHistogram.reduce(0, +) == 3)
    }

    @Test func aQueueCountsEveryCommittedBatch() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            defer { queue.close() }
            for n in 0..<5 { _ = try queue.append([payload(n), payload(n + 100)]) }
            let stats = queue.stats
            #expect(stats.syncHistogram.reduce(0, +) == stats.syncs)
            #expect(stats.batchHistogram.reduce(0, +) == stats.syncs)
            #expect(stats.batchHistogram[1] == 5)  // five batches of two records
        }
    }
}
