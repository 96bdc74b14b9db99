import DiskQueue
import Foundation
import TestSupport
import Testing
@testable import Worker

/// `queue salvage`: what still decodes as a queued event in a set-aside file is queued again,
/// once; what does not is left out.
@Suite struct QueueSalvageTests {
    private static let options = DiskQueueOptions(preallocationBytes: 0)

    /// Five events in one segment; `damage` changes the bytes of record 3 (given its offset and
    /// payload range), then the queue is opened once so recovery sets it aside.
    private func damagedQueue(_ directory: String, damage: (inout [UInt8], Int, Range<Int>) -> Void) throws -> [UInt8] {
        let queue = try DiskQueue(directory: directory, options: Self.options)
        for index in 1...5 { try enqueue(queue, [event(tenant: "t1", resource: "res-\(index)")]) }
        queue.close()
        let path = directory + "/segment-00000000000000000001.log"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 24
        for _ in 1..<3 { offset += 16 + Int(bytes[offset]) + Int(bytes[offset + 1]) << 8 }
        let length = Int(bytes[offset]) + Int(bytes[offset + 1]) << 8
        let payload = Array(bytes[(offset + 16)..<(offset + 16 + length)])
        damage(&bytes, offset, (offset + 16)..<(offset + 16 + length))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reopened = try DiskQueue(directory: directory, options: Self.options)
        #expect(reopened.recovery.damaged.map(\.sequences) == [3...3])
        reopened.close()
        return payload
    }

    /// A damaged length, checksum or sequence field leaves the payload whole: it is queued again.
    @Test(arguments: [0, 1, 4, 9])
    func aWholePayloadIsQueuedAgainOnce(field: Int) throws {
        let dir = try TemporaryDirectory("xero-webhookd-salvage")
        defer { dir.remove() }
        let directory = dir.file("queue")
        let payload = try damagedQueue(directory) { bytes, offset, _ in bytes[offset + field] ^= 0x40 }

        let queue = try DiskQueue(directory: directory, options: Self.options)
        defer { queue.close() }
        let summary = try QueueSalvage.run(queue, directory: directory, maxRecordBytes: Self.options.maxRecordBytes)
        #expect(summary == QueueSalvage.Summary(files: 1, events: 1, sequences: 6..<7, empty: 0, checksumFailures: 1))
        #expect(summary.description == "salvage: 1 set-aside files read, 1 events queued again (sequences 6-6), "
                + "1 of them from records whose checksum failed (check them downstream), 0 stretches held nothing that decodes, "
                + "0 files held nothing that decodes")
        #expect(try queue.readRecords(from: 6, maxCount: 10) == [QueueRecord(sequence: 6, payload: payload)])
        #expect(try SetAsideFile.list(in: directory).map(\.salvaged) == [true])
        // Marked: a second run finds nothing.
        #expect(try QueueSalvage.run(queue, directory: directory, maxRecordBytes: Self.options.maxRecordBytes) == QueueSalvage.Summary())
        #expect(queue.nextSequence == 7)
    }

    /// A payload that no longer decodes as a queued event is not queued; the file is still marked.
    @Test func aPayloadThatNoLongerDecodesIsLeftOut() throws {
        let dir = try TemporaryDirectory("xero-webhookd-salvage")
        defer { dir.remove() }
        let directory = dir.file("queue")
        _ = try damagedQueue(directory) { bytes, _, payload in bytes[payload.lowerBound] = UInt8(ascii: "[") }

        let queue = try DiskQueue(directory: directory, options: Self.options)
        defer { queue.close() }
        let summary = try QueueSalvage.run(queue, directory: directory, maxRecordBytes: Self.options.maxRecordBytes)
        #expect(summary == QueueSalvage.Summary(files: 1, events: 0, sequences: nil, empty: 1, undecodable: 1))
        #expect(queue.nextSequence == 6)
        let listed = try SetAsideFile.list(in: directory)
        #expect(listed.count == 1)
        #expect(listed.first?.kind == .damaged)
        #expect(listed.first?.salvaged == true)
    }

    /// Two damaged records side by side are set aside together; the first one's length field is
    /// wrong. Walking by lengths stopped there and lost both; resynchronising finds the second
    /// record, and the first one's payload ends where the second begins. Both are queued again
    /// and both counted as records whose checksum failed.
    @Test func recordsAfterADamagedLengthAreFoundToo() throws {
        let dir = try TemporaryDirectory("xero-webhookd-salvage")
        defer { dir.remove() }
        let directory = dir.file("queue")
        let queue = try DiskQueue(directory: directory, options: Self.options)
        for index in 1...5 { try enqueue(queue, [event(tenant: "t1", resource: "res-\(index)")]) }
        queue.close()
        let path = directory + "/segment-00000000000000000001.log"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        var offsets = [24]
        for _ in 1..<5 { offsets.append(offsets.last! + 16 + Int(bytes[offsets.last!]) + Int(bytes[offsets.last! + 1]) << 8) }
        let payloads = (2...3).map { record in
            let length = Int(bytes[offsets[record]]) + Int(bytes[offsets[record] + 1]) << 8
            return Array(bytes[(offsets[record] + 16)..<(offsets[record] + 16 + length)])
        }
        bytes[offsets[2]] ^= 0x40        // record 3: its length
        bytes[offsets[3] + 4] ^= 0x01    // record 4: its checksum
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reopened = try DiskQueue(directory: directory, options: Self.options)
        #expect(reopened.recovery.damaged.map(\.sequences) == [3...4])
        let summary = try QueueSalvage.run(reopened, directory: directory, maxRecordBytes: Self.options.maxRecordBytes)
        defer { reopened.close() }
        #expect(summary == QueueSalvage.Summary(files: 1, events: 2, sequences: 6..<8, empty: 0, checksumFailures: 2))
        #expect(try reopened.readRecords(from: 6, maxCount: 10).map(\.payload) == payloads)
    }
}
