import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing

/// Captured Xero answers served byte for byte to the built daemon, beyond the one-answer cases
/// of `XeroAnswerFidelityTests`.
@Suite struct XeroAnswerReplayTests {
    /// `invoice-single-200`: the record is one line whose `resource` is the fixture's invoice
    /// with its whitespace removed and every value (`\/Date(…)\/`, `57500.00`) byte for byte.
    @Test func capturedInvoiceAnswerBecomesOneRecordLine() throws {
        let run = try XeroAnswerFidelityTests.Run()
        defer { run.stop() }
        let fixture = try XeroAnswerFixture.load("invoice-single-200")
        let (id, bytes) = try #require(fixture.records("Invoices", idKey: "InvoiceID").first)
        run.fake.serve(fixture.answer, tenant: run.tenant, times: 5)
        try run.start()
        try run.post(category: "INVOICE", ids: [id])
        #expect(waitUntil(seconds: 30) { run.resource(id) != nil })
        let resource = try #require(run.resource(id))
        #expect(resource == JSONText.compacted(bytes))
        #expect(resource.firstRange(of: Array(#""\/Date("#.utf8)) != nil && resource.firstRange(of: Array("57500.00".utf8)) != nil)
    }

    /// `error-400-ids-not-uuid`: what Xero answers when one id of an `IDs=` batch is not a
    /// GUID. One bad id must not take the batch with it: the good resources are delivered.
    @Test func xerosNonUUIDAnswerDeadLettersTheWholeBatch() throws {
        let run = try XeroAnswerFidelityTests.Run(maxAttempts: 5)
        defer { run.stop() }
        let good = (0..<3).map { _ in XeroAnswerFidelityTests.newID() }
        run.fake.serve(try XeroAnswerFixture.load("error-400-ids-not-uuid").answer, tenant: run.tenant, times: 1)
        try run.start()
        try run.post(category: "INVOICE", ids: good + ["not-a-uuid"])
        _ = waitUntil(seconds: 20) { run.deadLetters().count >= 4 || run.records().count >= 3 }
        let dead = run.deadLetters()
        #expect(dead.count <= 1, "only the bad id should be lost; dead: \(dead.map { "\($0.attempts) \($0.lastError)" })")
    }

    /// A dead letter whose `receivedAt` holds a quote and a newline (hand-edited, or written by
    /// another tool) is replayed: its queue record is still JSON, `queue dump` still prints one
    /// line, and the worker does not lose the event as undecodable.
    @Test func replayedLetterWithAnOddReceivedAtStaysOneDumpLineAndKeepsItsEvent() throws {
        let run = try XeroAnswerFidelityTests.Run()
        defer { run.stop() }
        let event = #"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/r","resourceId":"r","eventDateUtc":"2026-11-29T01:00:00.000","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(run.tenant)","tenantType":"ORGANISATION"}"#
        let letter = #"{"id":"7-abc","sequence":7,"eventId":"abc","receivedAt":"2026-11-29T01:00:01.000Z\n\"","attempts":1,"firstAttempt":1,"deadAt":2,"lastError":"Xero answered 403","event":\#(event)}"#
        try FileManager.default.createDirectory(atPath: run.dir.file("state/dead/replay"), withIntermediateDirectories: true)
        try writeFile(run.dir.file("state/dead/replay/7-abc.json"), letter)
        try run.start()
        _ = waitUntil(seconds: 20) { !run.records().isEmpty || !run.deadLetters().isEmpty }
        let dump = try Binary.run(["queue", "dump", "--config", run.config])
        let lines = Array(dump.stdout.utf8).split(separator: 0x0A)
        #expect(lines.count == 1, "dump: \(dump.stdout.debugDescription)")
        for letter in run.deadLetters() { #expect(!letter.lastError.contains("not a queued event"), "\(letter.lastError)") }
    }
}
