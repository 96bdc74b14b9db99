import ByteJSON
import DiskQueue
import EventRecord
import Foundation
import HTTPServer
import Synchronization
import TestSupport
import Testing
@testable import Worker

/// Xero answers in indented JSON with CRLF line breaks, and a delivery may be indented too:
/// every record a sink writes, and every dead-letter file, is still exactly one line of JSON
/// whose values are byte-identical to what Xero sent.
/// A record covers at least one event: an empty list is refused, not a trap.
@Suite struct DeliveryRecordTests {
    @Test func noEventsNoRecord() {
        #expect(DeliveryRecord(items: [], resource: nil, fetchedAt: "2026-11-29T01:00:02.000Z") == nil)
        #expect(DeliveryRecord(eventsOf: []) == nil)
    }
}

@Suite struct OneLineOutputTests {
    /// An invoice as it appears inside a real Accounting API answer (indented, CRLF, `\/Date`).
    static let indentedInvoice = "{\r\n      \"Type\": \"ACCREC\",\r\n      \"InvoiceID\": \"243216c5-369e-4056-ac67-05388f86dc81\",\r\n"
        + "      \"Reference\": \"Ref \\\"A\\\"  two  spaces\",\r\n      \"Date\": \"\\/Date(1518685950940+0000)\\/\",\r\n"
        + "      \"LineItems\": [\r\n        {\r\n          \"Description\": \"Line\\r\\nbreak\",\r\n          \"UnitAmount\": 50000.00\r\n        }\r\n      ],\r\n"
        + "      \"Total\": 50000.00\r\n    }"
    static let compactInvoice = #"{"Type":"ACCREC","InvoiceID":"243216c5-369e-4056-ac67-05388f86dc81","Reference":"Ref \"A\"  two  spaces","#
        + #""Date":"\/Date(1518685950940+0000)\/","LineItems":[{"Description":"Line\r\nbreak","UnitAmount":50000.00}],"Total":50000.00}"#
    static let indentedEvent = "{\r\n  \"resourceUrl\": \"https://api.xero.com/api.xro/2.0/Invoices/243216c5-369e-4056-ac67-05388f86dc81\",\r\n"
        + "  \"resourceId\": \"243216c5-369e-4056-ac67-05388f86dc81\",\r\n  \"eventDateUtc\": \"2026-11-29T01:00:00.000\",\r\n"
        + "  \"eventType\": \"UPDATE\",\r\n  \"eventCategory\": \"INVOICE\",\r\n  \"tenantId\": \"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f\",\r\n"
        + "  \"tenantType\": \"ORGANISATION\"\r\n}"

    private func record() throws -> DeliveryRecord {
        let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: 3, event: Array(Self.indentedEvent.utf8)).encoded()
        let item = try QueuedItem.decode(QueueRecord(sequence: 9, payload: queued))
        return DeliveryRecord(items: [item], resource: Array(Self.indentedInvoice.utf8), fetchedAt: "2026-11-29T01:00:02.000Z")!
    }

    /// The line is one line of JSON whose `resource` is the compact invoice, byte for byte.
    private func expectOneRecordLine(_ line: [UInt8]) throws {
        #expect(!line.contains(0x0A) && !line.contains(0x0D), "one line")
        let json = try JSONParser.parse(line)
        let resource = try #require(json["resource"])
        #expect(String(decoding: line[resource.range], as: UTF8.self) == Self.compactInvoice)
        #expect(json["resourceId"]?.stringValue == "243216c5-369e-4056-ac67-05388f86dc81")
    }

    @Test func directorySinkWritesOneLinePerRecord() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let sink = DirectorySink(directory: dir.file("out"))
        let results = await sink.deliver([try record(), try record()])
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("out")).first)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("out/\(file)"))))
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "two lines, each ended by LF")
        for line in lines.prefix(2) { try expectOneRecordLine(Array(line)) }
    }

    /// A crash mid-write leaves a partial last line; the next record must not be glued to it.
    @Test func directorySinkCutsAPartialLastLineLeftByACrash() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: true)
        let day = String(UTCTimestamp.format(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)).prefix(10))
        let path = dir.file("out/records-\(day)-0001.jsonl")
        let whole = try record().json() + [0x0A]
        try Data(whole + Array(#"{"eventIds":["ab"#.utf8)).write(to: URL(fileURLWithPath: path))
        let results = await DirectorySink(directory: dir.file("out")).deliver([try record()])
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "the whole line, the new one, nothing of the torn one")
        for line in lines.prefix(2) { try expectOneRecordLine(Array(line)) }
    }

    @Test func commandSinkGetsOneLine() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let sink = CommandSink(command: ["/bin/sh", "-c", "cat > \(dir.file("got.json"))"], timeout: .seconds(10))!
        let results = await sink.deliver([try record()])
        if case .failure(let error) = results[0] { Issue.record("\(error)") }
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("got.json"))))
        #expect(bytes.last == 0x0A)
        try expectOneRecordLine(Array(bytes.dropLast()))
    }

    @Test func httpSinkPostsOneLineAndSignsTheBytesItSent() async throws {
        let bodies = Mutex<[[UInt8]]>([])
        let server = HTTPServer { request, responder in
            bodies.withLock { $0.append(request.body) }
            responder.send(HTTPResponse(status: 204))
        }
        let port = try server.start(host: "127.0.0.1", port: 0).port
        defer { server.shutdown(grace: .seconds(1)) }
        let sink = HTTPSink(url: URL(string: "http://127.0.0.1:\(port)/r")!, secret: "s", timeout: .seconds(10))
        let results = await sink.deliver([try record()])
        if case .failure(let error) = results[0] { Issue.record("\(error)") }
        try expectOneRecordLine(try #require(bodies.withLock { $0.first }))
    }

    @Test func deadLetterFileIsOneLineAndReplaysWithTheSameEventID() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let item = try record().items[0]
        let letter = DeadLetter(item: item, attempts: 3, firstAttempt: 1, deadAt: 2, lastError: "Xero answered 400")
        let store = DeadLetterStore(stateDirectory: dir.path)
        try store.add(letter)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("dead/\(letter.id).json"))))
        #expect(!bytes.contains(0x0A) && !bytes.contains(0x0D), "one line")
        let json = try JSONParser.parse(bytes)
        let event = try #require(json["event"])
        #expect(String(decoding: bytes[event.range], as: UTF8.self) == String(decoding: JSONText.compacted(Array(Self.indentedEvent.utf8)), as: UTF8.self))
        let read = try #require(store.get(letter.id))
        // Replayed, the compacted event goes back into the queue with the id it had.
        let replayed = QueuedEvent(receivedAt: read.receivedAt, eventSequence: nil, event: read.event, eventID: read.eventID).encoded()
        #expect(try QueuedItem.decode(QueueRecord(sequence: 99, payload: replayed)).eventID == item.eventID, "a replayed event keeps its id")
        #expect(EventID.of(read.event) != item.eventID, "the compacted bytes alone would give another id")
    }
}
