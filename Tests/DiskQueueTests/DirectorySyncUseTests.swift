import Foundation
import SystemSupport
import Testing
@testable import DiskQueue

/// The queue makes each change to its directories durable through `DirectorySync`: a caller that
/// stopped syncing a parent or the queue directory fails here.
@Suite struct DirectorySyncUseTests {
    @Test func openingRollingAndMovingTheConsumerSyncTheirDirectories() throws {
        try withTemporaryDirectory { base in
            let recorder = DirectorySync.Recorder(under: base)
            let queueDirectory = base + "/state/queue"
            let queue = try DiskQueue(directory: queueDirectory, options: .init(segmentBytes: SegmentHeader.size + 16 + 24))
            // New directories, each with its parent synced; then recovery syncs the queue directory.
            #expect(recorder.take() == [
                .created(base + "/state"), .synchronized(base),
                .created(queueDirectory), .synchronized(base + "/state"),
                .synchronized(queueDirectory),
            ])
            _ = try queue.append([payload(1)])
            #expect(recorder.take() == [.synchronized(queueDirectory)], "the new segment's name")
            _ = try queue.append([payload(2)])
            #expect(recorder.take() == [.synchronized(queueDirectory)], "the next segment's name")
            try queue.setConsumerPosition(2)
            // The renamed consumer file, then the removal of the consumed segment.
            #expect(recorder.take() == [.synchronized(queueDirectory), .synchronized(queueDirectory)])
            queue.close()
        }
    }

    @Test func recoverySyncsTheDirectoryAfterSettingASegmentAside() throws {
        try withTemporaryDirectory { base in
            do {
                let queue = try DiskQueue(directory: base, options: .init(segmentBytes: SegmentHeader.size + 16 + 24))
                for index in 1...3 { _ = try queue.append([payload(index)]) }
                queue.close()
            }
            let first = base + "/" + (try #require(try segmentFiles(in: base).first))
            var bytes = try fileBytes(first)
            bytes[0] ^= 0xFF
            try writeFile(first, bytes)
            let recorder = DirectorySync.Recorder(under: base)
            let reopened = try DiskQueue(directory: base)
            // The damaged header is set aside and the intact record after it moved to a segment of its own.
            #expect(reopened.recovery.damaged.count == 1)
            let events = recorder.take()
            // After the set-aside copy, after the split-off segment's rename, and at the end of recovery.
            #expect(events == Array(repeating: .synchronized(base), count: 3))
            reopened.close()
        }
    }
}
