import Foundation
import Testing
@testable import DiskQueue

/// How often the writer grows the file: counted, never timed (timing lives in the opt-in
/// measurement below).
@Suite struct PreparedSpaceReuseTests {
    /// N sequential single-record appends grow the file only when prepared space runs out: at
    /// most N × record size / preallocationBytes + 2 prepare syncs, and the file size changes
    /// exactly at those. Without preallocation every append grows the file.
    @Test(arguments: [0, 4096, DiskQueueOptions().preallocationBytes])
    func sequentialAppendsReusePreparedSpace(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let appends = 400
            let recordBytes = RecordCodec.encodedSize(payloadCount: 100)
            let queue = try DiskQueue(directory: base, options: .init(preallocationBytes: preallocation))
            defer { queue.close() }
            let segment = base + "/segment-00000000000000000001.log"
            var size = 0
            var sizeChanges: UInt64 = 0
            for index in 1...appends {
                _ = try queue.append([payload(index, size: 100)])
                let now = try #require(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int)
                if now != size { sizeChanges += 1 }
                size = now
            }
            let stats = queue.stats
            #expect(stats.syncs == UInt64(appends))
            #expect(stats.records == UInt64(appends))
            if preallocation == 0 {
                #expect(stats.prepareSyncs == 0)
                #expect(stats.preparedBytes == 0)
                #expect(sizeChanges == UInt64(appends))
            } else {
                let written = appends * recordBytes
                #expect(stats.prepareSyncs <= UInt64(written / preallocation + 2))
                #expect(stats.prepareSyncs >= UInt64(max(1, written / preallocation)))
                #expect(sizeChanges == stats.prepareSyncs)
                #expect(stats.preparedBytes == UInt64(size - SegmentHeader.size))
            }
        }
    }

    /// Not part of the suite: `DISKQUEUE_MEASURE=1 swift test --filter measureSequentialAppends`
    /// appends 20,000 records of 400 bytes one at a time (each waits for its sync), without and
    /// with preallocation, and prints records/s and the mean batch sync time. The queue goes to
    /// `DISKQUEUE_MEASURE_DIR` (default `<package>/.build/diskqueue-measure`): a real disk, not a
    /// tmpfs, for the numbers to mean anything.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DISKQUEUE_MEASURE"] == "1"))
    func measureSequentialAppends() throws {
        let environment = ProcessInfo.processInfo.environment
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let root = environment["DISKQUEUE_MEASURE_DIR"] ?? packageRoot + "/.build/diskqueue-measure"
        let count = environment["DISKQUEUE_MEASURE_RECORDS"].flatMap(Int.init) ?? 20_000
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 400)
        for preallocation in [0, DiskQueueOptions().preallocationBytes] {
            let directory = root + "/queue-\(preallocation)-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let queue = try DiskQueue(directory: directory, options: .init(preallocationBytes: preallocation))
            let started = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<count { _ = try queue.append([body]) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let stats = queue.stats
            queue.close()
            #expect(stats.records == UInt64(count))
            let meanSync = Double(stats.syncNanoseconds) / Double(max(stats.syncs, 1)) / 1e6
            let meanPrepare = Double(stats.prepareSyncNanoseconds) / Double(max(stats.prepareSyncs, 1)) / 1e6
            print("DISKQUEUE_MEASURE preallocationBytes=\(preallocation) records=\(count) seconds=\(String(format: "%.2f", seconds)) records/s=\(Int(Double(count) / seconds)) meanSyncMs=\(String(format: "%.4f", meanSync)) syncs=\(stats.syncs) prepareSyncs=\(stats.prepareSyncs) meanPrepareSyncMs=\(String(format: "%.3f", meanPrepare)) dir=\(root)")
        }
    }
}
