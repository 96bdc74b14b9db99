import ByteJSON
import EventRecord
import TestSupport
import Testing
@testable import XeroWebhooks

@Suite struct WebhookPayloadTests {
    @Test func intentToReceiveWithXeroSpacing() throws {
        let body = Array(#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "LUWDSUDGSWNZVALZXBEV"}"#.utf8)
        let payload = try WebhookPayload.parse(body)
        #expect(payload.events.isEmpty)
        #expect(payload.firstEventSequence == 0)
        #expect(payload.lastEventSequence == 0)
        #expect(payload.entropy == "LUWDSUDGSWNZVALZXBEV")
    }

    @Test func eventKeepsItsExactBytesAndFields() throws {
        let event = #"{ "resourceUrl":"https://api.xero.com/api.xro/2.0/CreditNotes/55d8","resourceId":"55d8","tenantId":"aef8","tenantType":"ORGANISATION","eventCategory":"CREDITNOTE","eventType":"Create","eventDateUtc":"2025-12-02T00:44:09.923","data":{"Type":"ACCPAYCREDIT","Status":"DRAFT"} }"#
        let body = Array(#"{"events":[\#(event)],"firstEventSequence":76,"lastEventSequence":76,"entropy":"X"}"#.utf8)
        let payload = try WebhookPayload.parse(body)
        let parsed = try #require(payload.events.first)
        #expect(Array(parsed.raw) == Array(event.utf8))
        #expect(parsed.category == "CREDITNOTE")
        #expect(parsed.type == "Create")
        #expect(parsed.resourceID == "55d8")
        #expect(parsed.tenantID == "aef8")
        #expect(parsed.eventDateUTC == "2025-12-02T00:44:09.923")
    }

    @Test func unknownCategoriesAndMissingSequencesAreAccepted() throws {
        let body = Array(#"{"events":[{"eventCategory":"SOMETHINGNEW","eventType":"ARCHIVE","tenantType":"PRACTICE"}]}"#.utf8)
        let payload = try WebhookPayload.parse(body)
        #expect(payload.events.count == 1)
        #expect(payload.events[0].category == "SOMETHINGNEW")
        #expect(payload.firstEventSequence == nil)
    }

    @Test(arguments: [
        (#"not json"#, "invalid"),
        (#"[]"#, "notAnObject"),
        (#"{"entropy":"x"}"#, "missingEvents"),
        (#"{"events":{}}"#, "eventsNotAnArray"),
        (#"{"events":[1]}"#, "eventNotAnObject"),
        (#"{"events":[{}, "x"]}"#, "eventNotAnObject"),
    ])
    func notAXeroPayload(_ body: String, _ kind: String) {
        #expect(throws: WebhookPayload.Failure.self) { try WebhookPayload.parse(Array(body.utf8)) }
    }

    @Test func queuedEventRoundTripsAndDumpsWithSequenceOnOneLine() throws {
        // An indented delivery: the queue keeps it as received, the dump line is one line.
        let event = Array("{\r\n  \"resourceId\": \"a b\",\r\n  \"x\" : [1,\r\n 2]\r\n}".utf8)
        let queued = QueuedEvent(receivedAt: "2026-11-29T05:00:00.000Z", eventSequence: 7, event: event)
        let bytes = queued.encoded()
        #expect(try QueuedEvent.decode(bytes) == queued)
        let line = QueuedEvent.dumpLine(sequence: 42, record: bytes)
        let parsed = try JSONParser.parse(line)
        #expect(parsed["sequence"]?.int64Value == 42)
        #expect(parsed["eventSequence"]?.int64Value == 7)
        let dumpedEvent = try #require(parsed["event"])
        #expect(Array(line[dumpedEvent.range]) == Array(#"{"resourceId":"a b","x":[1,2]}"#.utf8))
        #expect(!line.contains(0x0A) && !line.contains(0x0D))
        let noSequence = QueuedEvent(receivedAt: "t", eventSequence: nil, event: [0x7B, 0x7D])
        #expect(try QueuedEvent.decode(noSequence.encoded()).eventSequence == nil)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (Int64(951_782_400_123), "2000-02-29T00:00:00.123Z"),
        (Int64(1_795_928_461_005), "2026-11-29T05:01:01.005Z"),
        (Int64(-1), "1969-12-31T23:59:59.999Z"),
        (Int64(253_402_300_799_999), "9999-12-31T23:59:59.999Z"),
        (Int64(253_402_300_800_000), "10000-01-01T00:00:00.000Z"),
        (Int64(-62_167_219_200_000), "0000-01-01T00:00:00.000Z"),
        (Int64(-62_135_596_800_001), "0000-12-31T23:59:59.999Z"),
    ])
    func timestamps(_ ms: Int64, _ expected: String) {
        #expect(UTCTimestamp.format(millisecondsSinceEpoch: ms) == expected)
    }
}
