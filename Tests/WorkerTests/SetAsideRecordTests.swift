import DiskQueue
import Foundation
import TestSupport
import Testing
@testable import Worker

/// Records recovery set aside (a damaged record cut out of a segment) never come: the worker
/// counts their sequences as done, so its position passes them, consumed segments are deleted
/// and the position is kept across a reopen.
@Suite struct SetAsideRecordTests {
    private static let options = DiskQueueOptions(segmentBytes: 4096, preallocationBytes: 0)

    /// 30 events, one record each (`res-01` … `res-30`), in several segments; then one payload
    /// byte of each record in `damaged` flipped.
    private func makeDamagedQueue(_ directory: String, damaged: [Int]) throws {
        let queue = try DiskQueue(directory: directory, options: Self.options)
        for index in 1...30 {
            try enqueue(queue, [event(tenant: "t1", resource: String(format: "res-%02d", index))])
        }
        queue.close()
        let segments = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("segment-") }
        #expect(segments.count >= 3)
        for index in damaged {
            let marker = Array(String(format: #""resourceId":"res-%02d""#, index).utf8)
            var found = false
            for name in segments {
                let path = directory + "/" + name
                var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
                guard let at = (0...(bytes.count - marker.count)).first(where: { bytes[$0..<($0 + marker.count)].elementsEqual(marker) }) else { continue }
                bytes[at + 5] ^= 0x20
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                found = true
            }
            #expect(found)
        }
    }

    @Test(arguments: [[7], [1], [7, 20, 29]])
    func thePositionPassesSetAsideRecordsAndStays(damaged: [Int]) async throws {
        let dir = try TemporaryDirectory("xero-webhookd-set-aside")
        defer { dir.remove() }
        let queueDirectory = dir.file("state/queue")
        try makeDamagedQueue(queueDirectory, damaged: damaged)

        let queue = try DiskQueue(directory: queueDirectory, options: Self.options)
        #expect(queue.recovery.damaged.compactMap(\.sequences) == damaged.map { UInt64($0)...UInt64($0) })
        // A new queue has no stored position: it starts at the first record left (2 when 1 is gone).
        #expect(queue.missingSequences == damaged.filter { UInt64($0) >= queue.consumerPosition }.map { UInt64($0)...UInt64($0) })
        let sink = MemorySink()
        let worker = Worker(queue: queue, fetcher: ScriptedFetcher(), sink: sink, stateDirectory: dir.file("state"))
        #expect(try await drive(worker) { await worker.currentStatus().position == 31 })
        await worker.stop()
        let delivered = sink.records.flatMap { $0.items.map(\.sequence) }.sorted()
        #expect(delivered == (1...30).filter { !damaged.contains($0) }.map(UInt64.init))
        #expect(queue.consumerPosition == 31)
        queue.close()
        // Every segment below the position is gone; only the last one stays.
        #expect(try FileManager.default.contentsOfDirectory(atPath: queueDirectory).filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.count == 1)

        let reopened = try DiskQueue(directory: queueDirectory, options: Self.options)
        defer { reopened.close() }
        #expect(reopened.consumerPosition == 31)
        #expect(reopened.recovery.consumerPositionReset == false)
        #expect(reopened.missingSequences == [])
        let status = try QueueStatus.read(stateDirectory: dir.file("state"))
        #expect(status.pending == 0)
    }

    /// A restart before the worker passed the missing sequence still knows it is missing.
    @Test func aRestartBeforeThePositionPassedStillSkips() async throws {
        let dir = try TemporaryDirectory("xero-webhookd-set-aside")
        defer { dir.remove() }
        let queueDirectory = dir.file("state/queue")
        try makeDamagedQueue(queueDirectory, damaged: [12])
        try DiskQueue(directory: queueDirectory, options: Self.options).close()

        let queue = try DiskQueue(directory: queueDirectory, options: Self.options)
        defer { queue.close() }
        #expect(queue.recovery.damaged == [])
        #expect(queue.missingSequences == [12...12])
        let sink = MemorySink()
        let worker = Worker(queue: queue, fetcher: ScriptedFetcher(), sink: sink, stateDirectory: dir.file("state"))
        #expect(try await drive(worker) { await worker.currentStatus().position == 31 })
        await worker.stop()
        #expect(sink.records.flatMap { $0.items.map(\.sequence) }.count == 29)
    }
}
