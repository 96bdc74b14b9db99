import Foundation
import SystemSupport
import Testing
@testable import DiskQueue

@Suite struct ConsumerPositionTests {
    /// Two records of the default payload size fill a segment: records 2k-1 and 2k share one.
    static let options = DiskQueueOptions(segmentBytes: SegmentHeader.size + 2 * (16 + 24))

    /// A queue with `count` records of `payload(index)`, closed again.
    static func makeQueue(_ directory: String, count: Int) throws {
        let queue = try DiskQueue(directory: directory, options: options)
        for index in 1...count { _ = try queue.append([payload(index)]) }
        queue.close()
    }

    @Test func anUnreadablePositionIsAnErrorNotAMissingOne() throws {
        try withTemporaryDirectory { base in
            try Self.makeQueue(base, count: 2)
            // Cannot be read (as EACCES is for a user outside the daemon's group): counting from
            // the earliest record instead would report delivered events as pending.
            try? FileManager.default.removeItem(atPath: base + "/consumer")
            try FileManager.default.createDirectory(atPath: base + "/consumer", withIntermediateDirectories: false)
            let error = #expect(throws: DiskQueueError.self) { try QueueReader.consumerPosition(in: base) }
            guard case let .system(failure)? = error else {
                Issue.record("not a system error: \(String(describing: error))")
                return
            }
            #expect(failure.errno == EISDIR)
        }
    }

    @Test func positionIsStoredDurablyAndSurvivesReopen() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            #expect(queue.consumerPosition == 1)
            #expect(queue.recovery.consumerPosition == 1)
            #expect(!queue.recovery.consumerPositionReset)
            #expect(try QueueReader.consumerPosition(in: base) == nil)
            for index in 1...10 { _ = try queue.append([payload(index)]) }
            try queue.setConsumerPosition(4)
            #expect(queue.consumerPosition == 4)
            #expect(try QueueReader.consumerPosition(in: base) == 4)
            try queue.setConsumerPosition(4)  // unchanged is allowed
            queue.close()

            let bytes = try fileBytes(base + "/consumer")
            #expect(bytes.count == 20)
            #expect(Array(bytes[0..<8]) == Array("XWQCUR01".utf8))
            #expect(Array(bytes[8..<16]) == [4, 0, 0, 0, 0, 0, 0, 0])
            let crc = CRC32C.checksum(of: Array(bytes[0..<16]))
            #expect(Array(bytes[16..<20]) == [UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24)])
            #expect(!FileManager.default.fileExists(atPath: base + "/consumer.tmp"))

            let reopened = try DiskQueue(directory: base)
            #expect(reopened.consumerPosition == 4)
            #expect(reopened.recovery.consumerPosition == 4)
            #expect(!reopened.recovery.consumerPositionReset)
            try reopened.setConsumerPosition(11)  // everything consumed
            reopened.close()
            let again = try DiskQueue(directory: base)
            #expect(again.consumerPosition == 11)
            #expect(try again.readRecords(from: again.consumerPosition, maxCount: 10) == [])
            again.close()
        }
    }

    @Test func segmentsWhollyBehindThePositionAreDeletedAndTheRestReadable() throws {
        try withTemporaryDirectory { base in
            try Self.makeQueue(base, count: 20)
            let all = try QueueReader.records(in: base)
            let queue = try DiskQueue(directory: base, options: Self.options)
            #expect(try segmentFiles(in: base).count == 10)

            try queue.setConsumerPosition(8)
            // Segment 7 holds records 7 and 8: record 8 is not consumed yet, so it stays.
            #expect(try segmentFiles(in: base).first == "segment-00000000000000000007.log")
            #expect(try segmentFiles(in: base).count == 7)
            #expect(queue.liveBytes == (try totalSegmentBytes(in: base)))
            #expect(try queue.readRecords(from: 8, maxCount: 100) == Array(all[7...]))
            #expect(try QueueReader.records(in: base) == Array(all[6...]))

            try queue.setConsumerPosition(9)
            #expect(try segmentFiles(in: base).first == "segment-00000000000000000009.log")

            // All consumed: only the last segment, where appends go, is kept.
            try queue.setConsumerPosition(21)
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000019.log"])
            #expect(try queue.append([payload(21)]) == 21..<22)
            #expect(try queue.readRecords(from: 21, maxCount: 5) == [QueueRecord(sequence: 21, payload: payload(21))])
            queue.close()

            let reopened = try DiskQueue(directory: base, options: Self.options)
            #expect(reopened.consumerPosition == 21)
            #expect(!reopened.recovery.consumerPositionReset)
            #expect(reopened.recovery.nextSequence == 22)
            reopened.close()
        }
    }

    @Test func positionsOutsideCurrentToDurableNextAreRejected() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            defer { queue.close() }
            for index in 1...5 { _ = try queue.append([payload(index)]) }
            #expect(throws: DiskQueueError.invalidPosition(requested: 0, allowed: 1...6)) { try queue.setConsumerPosition(0) }
            #expect(throws: DiskQueueError.invalidPosition(requested: 7, allowed: 1...6)) { try queue.setConsumerPosition(7) }
            #expect(try QueueReader.consumerPosition(in: base) == nil)
            try queue.setConsumerPosition(3)
            #expect(throws: DiskQueueError.invalidPosition(requested: 2, allowed: 3...6)) { try queue.setConsumerPosition(2) }
            #expect(throws: DiskQueueError.invalidPosition(requested: .max, allowed: 3...6)) { try queue.setConsumerPosition(.max) }
            #expect(queue.consumerPosition == 3)
            #expect(try QueueReader.consumerPosition(in: base) == 3)
        }
    }

    @Test func failureBeforeTheRenameKeepsTheOldPosition() throws {
        try withTemporaryDirectory { base in
            let faults = FaultSwitch()
            do {
                let queue = try DiskQueue(directory: base, options: .init(segmentBytes: Self.options.segmentBytes, faults: faults.injector))
                for index in 1...10 { _ = try queue.append([payload(index)]) }
                try queue.setConsumerPosition(3)
                let files = try segmentFiles(in: base)
                faults.arm(.writeConsumerPosition)
                #expect(throws: DiskQueueError.system(FaultSwitch.injected)) { try queue.setConsumerPosition(9) }
                #expect(faults.hits(.writeConsumerPosition) == 2)
                #expect(queue.consumerPosition == 3)
                #expect(try QueueReader.consumerPosition(in: base) == 3)
                #expect(try segmentFiles(in: base) == files)
                #expect(!FileManager.default.fileExists(atPath: base + "/consumer.tmp"))
                #expect(!queue.isFailed)  // the append path is not affected
                #expect(try queue.append([payload(11)]) == 11..<12)
                queue.close()
            }
            let reopened = try DiskQueue(directory: base, options: Self.options)
            #expect(reopened.consumerPosition == 3)
            #expect(!reopened.recovery.consumerPositionReset)
            reopened.close()
        }
    }

    @Test func aFailedRenameKeepsItsErrnoAndALeftoverTemporaryFileIsOverwritten() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: Self.options)
            defer { queue.close() }
            for index in 1...6 { _ = try queue.append([payload(index)]) }
            // A temporary file longer than a position file, as a crash could leave one while
            // the queue runs elsewhere: it is truncated, not appended to or refused.
            try writeFile(base + "/consumer.tmp", [UInt8](repeating: 0x78, count: 100))
            try queue.setConsumerPosition(3)
            #expect(try fileBytes(base + "/consumer") == ConsumerPositionFile.encode(3))
            #expect(!FileManager.default.fileExists(atPath: base + "/consumer.tmp"))

            // `consumer` turned into a directory: the rename fails with its own errno.
            try? FileManager.default.removeItem(atPath: base + "/consumer")
            try FileManager.default.createDirectory(atPath: base + "/consumer/inside", withIntermediateDirectories: true)
            #expect(throws: DiskQueueError.system(SystemCallError(call: "rename", errno: EISDIR, path: base + "/consumer.tmp"))) {
                try queue.setConsumerPosition(5)
            }
            #expect(queue.consumerPosition == 3)
            #expect(!FileManager.default.fileExists(atPath: base + "/consumer.tmp"))
        }
    }

    @Test func leftoverTemporaryFileIsRemovedOnOpen() throws {
        try withTemporaryDirectory { base in
            try Self.makeQueue(base, count: 4)
            try writeFile(base + "/consumer", ConsumerPositionFile.encode(3))
            // A crash between writing consumer.tmp and renaming it.
            try writeFile(base + "/consumer.tmp", ConsumerPositionFile.encode(4))
            let queue = try DiskQueue(directory: base, options: Self.options)
            #expect(!FileManager.default.fileExists(atPath: base + "/consumer.tmp"))
            #expect(queue.consumerPosition == 3)
            #expect(!queue.recovery.consumerPositionReset)
            queue.close()
        }
    }

    @Test func consumerCallsAfterCloseFailWithClosed() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            _ = try queue.append([payload(1)])
            queue.close()
            #expect(throws: DiskQueueError.closed) { try queue.setConsumerPosition(2) }
            #expect(throws: DiskQueueError.closed) { try queue.readRecords(from: 1, maxCount: 1) }
            #expect(try QueueReader.consumerPosition(in: base) == nil)
        }
    }
}
