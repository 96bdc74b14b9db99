import ByteJSON
import DiskQueue
import Foundation
import TestSupport
import Testing
@testable import Worker

/// Event ids stay what they were: SHA-256 over the event's bytes as received, whitespace and
/// all (Xero's real ITR body has `"name": value` spacing), for events queued before an upgrade
/// and for dead letters written by an earlier version.
///
/// The expected ids below were computed independently:
/// `printf '%s' "$EVENT" | sha256sum | cut -c1-32`.
@Suite struct EventIDUpgradeTests {
    /// An event spaced as Xero's captured ITR body is (a space after each colon).
    static let spacedEvent = #"{"resourceUrl": "https://api.xero.com/api.xro/2.0/Invoices/r","resourceId": "r","eventDateUtc": "2026-11-29T01:00:00.000","eventType": "UPDATE","eventCategory": "INVOICE","tenantId": "t","tenantType": "ORGANISATION"}"#
    static let spacedEventOldID = "dcdeeaaaddb43d57baa746db8b883f30"

    /// The same event pretty-printed with CRLF, as an old dead-letter file kept it.
    static let indentedEvent = "{\r\n  \"resourceUrl\": \"https://api.xero.com/api.xro/2.0/Invoices/r\",\r\n  \"resourceId\": \"r\",\r\n"
        + "  \"eventDateUtc\": \"2026-11-29T01:00:00.000\",\r\n  \"eventType\": \"UPDATE\",\r\n  \"eventCategory\": \"INVOICE\",\r\n"
        + "  \"tenantId\": \"t\",\r\n  \"tenantType\": \"ORGANISATION\"\r\n}"
    static let indentedEventOldID = "3553817b04cdaf7dfdb41a64c67022e0"

    /// An event that was queued (and possibly delivered once) before the upgrade is delivered
    /// again after it (at least once: crash before the position moved). The consumer can only
    /// drop the duplicate if the id is the one it saw before.
    @Test func eventQueuedBeforeTheUpgradeIsRedeliveredWithTheIDItHadBefore() async throws {
        let dir = try TemporaryDirectory("xero-webhookd-upgrade")
        let queue = try DiskQueue(directory: dir.file("state/queue"))
        defer { queue.close(); dir.remove() }
        try enqueue(queue, [Array(Self.spacedEvent.utf8)])
        let sink = MemorySink()
        let worker = Worker(queue: queue, fetcher: ScriptedFetcher(), sink: sink, stateDirectory: dir.file("state"),
                            configuration: WorkerConfiguration(), now: { 1_800_000_000_000 }, random: { 0.5 }, onEvent: { _ in })
        #expect(try await drive(worker) { sink.records.count == 1 })
        #expect(sink.records.first?.items[0].eventID == Self.spacedEventOldID)
    }

    /// A dead-letter file written before the upgrade: the event as received (indented) and the
    /// id it had then, which is also in its file name. Replayed after the upgrade, the event
    /// should be delivered under that same id.
    @Test func deadLetterWrittenBeforeTheUpgradeReplaysWithItsRecordedID() async throws {
        let dir = try TemporaryDirectory("xero-webhookd-upgrade")
        let queue = try DiskQueue(directory: dir.file("state/queue"))
        defer { queue.close(); dir.remove() }
        let id = "7-\(Self.indentedEventOldID)"
        let file = #"{"id":"\#(id)","sequence":7,"eventId":"\#(Self.indentedEventOldID)","receivedAt":"2026-11-29T01:00:01.000Z","attempts":1,"firstAttempt":1,"deadAt":2,"lastError":"Xero answered 403","event":"#
            + Self.indentedEvent + "}"
        try FileManager.default.createDirectory(atPath: dir.file("state/dead/replay"), withIntermediateDirectories: true)
        try Data(file.utf8).write(to: URL(fileURLWithPath: dir.file("state/dead/replay/\(id).json")))
        let letter = try #require(DeadLetterStore(stateDirectory: dir.file("state")).pendingReplays().first)
        #expect(letter.eventID == Self.indentedEventOldID)

        let sink = MemorySink()
        let worker = Worker(queue: queue, fetcher: ScriptedFetcher(), sink: sink, stateDirectory: dir.file("state"),
                            configuration: WorkerConfiguration(), now: { 1_800_000_000_000 }, random: { 0.5 }, onEvent: { _ in })
        #expect(try await drive(worker) { sink.records.count == 1 })
        #expect(sink.records.first?.items[0].eventID == letter.eventID, "the id in the dead letter (and its file name)")
    }
}
