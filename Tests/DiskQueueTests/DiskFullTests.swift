import Foundation
import Synchronization
import SystemSupport
import Testing
@testable import DiskQueue

@Suite struct DiskFullTests {
    /// Two records of the default payload size fill a segment.
    private static let segmentBytes = SegmentHeader.size + 2 * (16 + 24)

    @Test(arguments: [ENOSPC, EDQUOT], preallocations)
    func fullDiskAtWriteFailsTheBatchButNotTheQueue(code: Int32, preallocation: Int) throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            var acknowledged: [QueueRecord] = []
            do {
                let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, faults: faults.injector, preallocationBytes: preallocation))
                for index in 1...3 {
                    let range = try queue.append([payload(index)])
                    acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: payload(index)))
                }
                let liveBefore = queue.liveBytes
                let filesBefore = try segmentFiles(in: base)
                faults.arm(.beforeWrite, errno: code)
                for index in 4...6 {
                    let error = thrownError { _ = try queue.append([payload(index)]) }
                    #expect(error?.isDiskFull == true, "\(String(describing: error))")
                    #expect(!queue.isFailed)
                }
                #expect(queue.nextSequence == 4)
                #expect(queue.liveBytes == liveBefore)
                #expect(queue.stats.records == 3)
                #expect(try segmentFiles(in: base) == filesBefore)

                // Space is back: appending goes on, across new segments, without reopening.
                faults.arm(nil)
                for index in 7...12 {
                    let range = try queue.append([payload(index)])
                    #expect(range.lowerBound == UInt64(acknowledged.count + 1))
                    acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: payload(index)))
                }
                #expect(queue.liveBytes == (try committedSegmentBytes(in: base)))
                queue.close()
            }
            #expect(try QueueReader.records(in: base) == acknowledged)
            let reopened = try DiskQueue(directory: base)
            #expect(reopened.recovery.truncatedBytes == 0)
            #expect(reopened.recovery.quarantinedFiles == [])
            #expect(reopened.recovery.nextSequence == UInt64(acknowledged.count + 1))
            reopened.close()
            #expect(try QueueReader.records(in: base) == acknowledged)
        }
    }

    /// With preallocation the prepared zeros are given back too: the file ends at its last record.
    @Test(arguments: preallocations)
    func bytesOfAFailedWriteAreCutOff(preallocation: Int) throws {
        try withTemporaryDirectory { base in
            // Plays a pwrite that got part of the batch into the file, at the committed end (just
            // after record 1), before the disk filled up.
            let committedEnd = SegmentHeader.size + 16 + 24
            let partial = Mutex(false)
            let injector = FaultInjector { point in
                guard point == .beforeWrite, partial.withLock({ $0 }) else { return }
                let handle = try FileHandle(forUpdating: URL(fileURLWithPath: base + "/segment-00000000000000000001.log"))
                try handle.seek(toOffset: UInt64(committedEnd))
                try handle.write(contentsOf: Data(payload(99, size: 30)))
                try handle.close()
                throw SystemCallError(call: "pwrite", errno: ENOSPC)
            }
            let queue = try DiskQueue(directory: base, options: .init(faults: injector, preallocationBytes: preallocation))
            #expect(try queue.append([payload(1)]) == 1..<2)
            let segment = base + "/segment-00000000000000000001.log"
            let committed = Array(try fileBytes(segment).prefix(committedEnd))
            partial.withLock { $0 = true }
            let error = thrownError { _ = try queue.append([payload(2), payload(3)]) }
            #expect(error?.isDiskFull == true)
            #expect(try fileBytes(segment) == committed)
            #expect(!queue.isFailed)
            partial.withLock { $0 = false }
            #expect(try queue.append([payload(2)]) == 2..<3)
            queue.close()

            let reopened = try DiskQueue(directory: base)
            #expect(reopened.recovery.truncatedBytes == 0)
            #expect(reopened.recovery.nextSequence == 3)
            reopened.close()
            #expect(try QueueReader.records(in: base).map(\.payload) == [payload(1), payload(2)])
        }
    }

    @Test(arguments: [ENOSPC, EDQUOT])
    func fullDiskCreatingASegmentFailsTheBatchButNotTheQueue(code: Int32) throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.segmentBytes, faults: faults.injector))
            #expect(try queue.append([payload(1), payload(2)]) == 1..<3)
            faults.arm(.createSegment, errno: code)
            let error = thrownError { _ = try queue.append([payload(3)]) }
            #expect(error?.isDiskFull == true)
            #expect(!queue.isFailed)
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000001.log"])
            faults.arm(nil)
            #expect(try queue.append([payload(3)]) == 3..<4)
            queue.close()
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000001.log", "segment-00000000000000000003.log"])
            #expect(try QueueReader.records(in: base).map(\.sequence) == [1, 2, 3])
        }
    }

    @Test func reserveLargerThanTheDiskRefusesBeforeWritingAnything() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: .init(minFreeBytes: Int.max / 2))
            for index in 1...3 {
                let error = thrownError { _ = try queue.append([payload(index)]) }
                #expect(error?.isDiskFull == true, "\(String(describing: error))")
            }
            #expect(!queue.isFailed)
            #expect(queue.stats == DiskQueueStats())
            #expect(queue.liveBytes == 0)
            #expect(try segmentFiles(in: base) == [])
            queue.close()

            let reopened = try DiskQueue(directory: base, options: .init(minFreeBytes: 0))
            #expect(try reopened.append([payload(1)]) == 1..<2)
            reopened.close()
        }
    }

    @Test func fullDiskReportedBySyncStillFailsTheQueue() throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            let queue = try DiskQueue(directory: base, options: .init(faults: faults.injector))
            _ = try queue.append([payload(1)])
            faults.arm(.afterWriteBeforeSync, errno: ENOSPC)
            #expect(throws: DiskQueueError.system(SystemCallError(call: "pwrite", errno: ENOSPC))) {
                try queue.append([payload(2)])
            }
            #expect(queue.isFailed)
            faults.arm(nil)
            #expect(thrownError { _ = try queue.append([payload(3)]) }?.isFailed == true)
            queue.close()
        }
    }

    @Test func negativeReserveAndNonPositiveBoundAreRefused() throws {
        try withTemporaryDirectory { base in
            #expect(throws: DiskQueueError.self) { try DiskQueue(directory: base, options: .init(minFreeBytes: -1)) }
            #expect(throws: DiskQueueError.self) { try DiskQueue(directory: base, options: .init(maxQueueBytes: 0)) }
        }
    }

    /// Against a real full file system. Opt-in: point `DISKQUEUE_SMALL_FS` at an empty directory
    /// on a small file system, e.g. `mount -t tmpfs -o size=1m tmpfs /mnt/small`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DISKQUEUE_SMALL_FS"] != nil))
    func realFullFileSystem() throws {
        let root = try #require(ProcessInfo.processInfo.environment["DISKQUEUE_SMALL_FS"])
        let directory = root + "/queue-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let options = DiskQueueOptions(segmentBytes: 64 << 10, maxRecordBytes: 64 << 10, minFreeBytes: 0)
        var acknowledged: [QueueRecord] = []
        let queue = try DiskQueue(directory: directory, options: options)
        var refusals = 0
        var index = 0
        while refusals < 20, index < 100_000 {
            index += 1
            let body = payload(index, size: 1 + (index * 7919) % 20_000)
            do {
                let range = try queue.append([body])
                acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: body))
            } catch {
                #expect(error.isDiskFull, "\(error)")
                refusals += 1
            }
            #expect(!queue.isFailed)
        }
        #expect(refusals == 20)
        #expect(try QueueReader.records(in: directory) == acknowledged)
        // The consumer catches up; deleting its segments makes room again.
        try queue.setConsumerPosition(queue.nextSequence)
        let range = try queue.append([payload(0, size: 10_000)])
        acknowledged.append(QueueRecord(sequence: range.lowerBound, payload: payload(0, size: 10_000)))
        let firstKept = try #require(SegmentName(fileName: try segmentFiles(in: directory)[0])).firstSequence
        let kept = acknowledged.filter { $0.sequence >= firstKept }
        queue.close()

        let reopened = try DiskQueue(directory: directory, options: options)
        #expect(reopened.recovery.truncatedBytes == 0)
        #expect(reopened.recovery.quarantinedFiles == [])
        reopened.close()
        #expect(try QueueReader.records(in: directory) == kept)
    }
}
