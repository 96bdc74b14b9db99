import EventRecord
import FakeXero
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One flipped byte in the queue costs one event, not the queue: the report was 700 queued
/// events, one byte flipped a third of the way into the last segment, then 235 delivered, the
/// position stuck for good, consumed segments never deleted and, with `queue.maxBytes`, every
/// delivery answered 503.
@Suite(.serialized) struct DamagedQueueEndToEndTests {
    /// A record in a segment file: where it starts, its sequence and its payload.
    struct Frame {
        let offset: Int
        let sequence: UInt64
        let payload: Range<Int>
    }

    /// The records of a segment file, walked by their length fields up to the first zero length
    /// (prepared space).
    static func frames(_ bytes: [UInt8]) -> [Frame] {
        var frames: [Frame] = []
        var offset = 24
        while offset + 16 <= bytes.count {
            let length = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            guard length > 0, offset + 16 + length <= bytes.count else { break }
            let sequence = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)) }
            frames.append(Frame(offset: offset, sequence: sequence, payload: (offset + 16)..<(offset + 16 + length)))
            offset += 16 + length
        }
        return frames
    }

    @Test func oneFlippedByteCostsOneEventAndTheQueueDrains() throws {
        let tenants = ["t-a", "t-b"]
        let setup = try WorkerEndToEndTests.Setup(tenants: tenants)
        let queueDirectory = setup.dir.file("state/queue")
        // Small segments and a 1 MiB bound; events of about 2.4 KB, so 300 of them hold most of it.
        func writeConfig(worker: Bool) throws {
            try writeFile(setup.config, #"""
            {"stateDirectory": "\#(setup.dir.file("state"))", "listen": {"port": 0},
             "queue": {"segmentBytes": 65536, "maxBytes": 1048576},
             "xero": {"apiBaseURL": "\#(setup.baseURL)", "identityBaseURL": "\#(setup.baseURL)",
                      "auth": {"mode": "accessToken", "accessTokenFile": "\#(setup.dir.file("token.json"))"}},
             "worker": {"enabled": \#(worker), "backoffBaseMilliseconds": 20, "backoffCapMilliseconds": 100},
             "sink": {"type": "directory", "directory": "\#(setup.dir.file("out"))"}}
            """#)
        }
        let padding = String(repeating: "p", count: 2000)
        func events(_ numbers: Range<Int>) -> [String] {
            numbers.map { n in
                let tenant = tenants[n % tenants.count]
                let id = String(format: "00000000-0000-0000-0000-%012d", n)
                setup.fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
                return String(setup.event(tenant: tenant, category: "INVOICE", id: id).dropLast()) + #","padding":"\#(padding)"}"#
            }
        }
        func ids(_ events: [String]) -> Set<String> { Set(events.map { EventID.of(Array($0.utf8))! }) }
        func post(_ client: RawHTTPClient, _ events: [String]) throws -> [Int] {
            try stride(from: 0, to: events.count, by: 10).map { try setup.post(client, Array(events[$0..<min($0 + 10, events.count)])) }
        }
        func status() -> String { (try? Binary.run(["queue", "status", "--config", setup.config]).stdout) ?? "" }
        func segmentExists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: queueDirectory + "/" + name) }

        // 1. 300 events queued while the worker is off.
        try writeConfig(worker: false)
        var daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let first = events(0..<300)
        #expect(try post(RawHTTPClient(port: daemon.port), first).allSatisfy { $0 == 200 })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)

        // 2. One byte flipped a third of the way into the last segment: the checksum of the
        // record there, so the record fails its check and its payload stays whole.
        let segments = try FileManager.default.contentsOfDirectory(atPath: queueDirectory)
            .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.sorted()
        #expect(segments.count >= 3)
        let last = try #require(segments.last)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: queueDirectory + "/" + last)))
        let frames = Self.frames(bytes)
        try #require(frames.count >= 3)
        let third = (frames.last!.payload.upperBound) / 3
        let damaged = try #require(frames.last { $0.offset <= third })
        #expect(damaged.sequence != frames.first!.sequence && damaged.sequence != frames.last!.sequence)
        bytes[damaged.offset + 4] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: queueDirectory + "/" + last))
        let lost = try EventID.of(QueuedEvent.decode(Array(bytes[damaged.payload])).event)!
        let expected = ids(first).subtracting([lost])
        #expect(expected.count == 299)

        // 3. With the worker: every event but the damaged one is delivered, the queue drains,
        // the set-aside piece is shown and consumed segments are deleted.
        try writeConfig(worker: true)
        daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        #expect(waitUntil(seconds: 90) { Set(setup.deliveredEventIDs()) == expected }, "delivered \(Set(setup.deliveredEventIDs()).count) of \(expected.count)")
        #expect(!setup.deliveredEventIDs().contains(lost))
        #expect(daemon.stderr.contains("queue set aside damaged records"))
        #expect(daemon.stderr.contains("sequences=\(damaged.sequence)-\(damaged.sequence)"))
        #expect(waitUntil(seconds: 30) { status().contains("pending: 0") }, "\(status())")
        let shown = status()
        #expect(shown.contains("set aside: 1 files, 2"), "\(shown)")
        #expect(shown.contains("set aside \(last).damaged-\(damaged.offset): damaged"), "\(shown)")
        #expect(waitUntil(seconds: 30) { !segmentExists(segments[0]) && !segmentExists(last) }, "segments left")

        // 4. The bound frees as the consumer advances: two more rounds of 150 events and 300
        // events (about 1 MB together, more than the bound) fit, each delivered before the next.
        let client = try RawHTTPClient(port: daemon.port)
        let second = events(300..<450) + events(450..<750)
        for round in [Array(second[..<150]), Array(second[150...])] {
            let answers = try post(client, round)
            #expect(answers.allSatisfy { $0 == 200 }, "\(answers.filter { $0 != 200 }.count) of \(answers.count) deliveries refused")
            #expect(waitUntil(seconds: 90) { ids(round).isSubset(of: Set(setup.deliveredEventIDs())) })
        }
        #expect(try client.exchange(Array("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)).status == 200)
        // Salvage appends to the queue: refused while the daemon holds it.
        let refused = try Binary.run(["queue", "salvage", "--config", setup.config])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("stop the daemon first"), "\(refused.stderr)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)

        // 5. A restart delivers nothing again: a marker event queued after it arrives, and every
        // event id was delivered exactly once.
        daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let marker = events(750..<751)
        #expect(try post(RawHTTPClient(port: daemon.port), marker) == [200])
        #expect(waitUntil(seconds: 60) { setup.deliveredEventIDs().contains(ids(marker).first!) })
        let delivered = setup.deliveredEventIDs()
        #expect(delivered.count == Set(delivered).count, "\(delivered.count - Set(delivered).count) events delivered twice")
        #expect(Set(delivered) == expected.union(ids(second)).union(ids(marker)))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)

        // 6. Salvage queues the damaged record's event again, once.
        let salvage = try Binary.run(["queue", "salvage", "--config", setup.config])
        #expect(salvage.status == 0, "\(salvage.stderr)")
        #expect(salvage.stdout == "salvage: 1 set-aside files read, 1 events queued again (sequences 752-752), "
                + "1 of them from records whose checksum failed (check them downstream), 0 stretches held nothing that decodes, "
                + "0 files held nothing that decodes\n", "\(salvage.stdout)")
        #expect(status().contains("set aside \(last).damaged-\(damaged.offset).salvaged: damaged"), "\(status())")
        #expect(try Binary.run(["queue", "salvage", "--config", setup.config]).stdout == "salvage: nothing set aside to salvage\n")
        daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        #expect(waitUntil(seconds: 60) { setup.deliveredEventIDs().contains(lost) })
        #expect(waitUntil(seconds: 30) { status().contains("pending: 0") })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(setup.deliveredEventIDs().filter { $0 == lost }.count == 1)
    }
}
