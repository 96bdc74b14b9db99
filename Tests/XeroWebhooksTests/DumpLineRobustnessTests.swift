import ByteJSON
import EventRecord
import Testing
@testable import XeroWebhooks

/// `queue dump` promises one JSON line per record. The compactor only keeps that promise for
/// valid JSON; these records are what the queue can hold when a record is not.
@Suite struct DumpLineRobustnessTests {
    /// A record whose string holds a raw LF (not valid JSON): the compactor treats the LF as part
    /// of the string and copies it, so the dump prints one record over two lines.
    @Test func dumpOfARecordThatIsNotValidJSONIsStillOneLine() {
        let record = Array("{\"receivedAt\":\"2026-11-29\nT01:00:01.000Z\",\"event\":{}}".utf8)
        let line = QueuedEvent.dumpLine(sequence: 1, record: record)
        #expect(!line.contains(0x0A), "one line: \(String(decoding: line, as: UTF8.self).debugDescription)")
        #expect((try? JSONParser.parse(line)) != nil, "valid JSON")
    }

    /// An empty or truncated record gives a dump line that is not JSON at all.
    @Test func dumpOfAnEmptyRecordIsValidJSON() {
        let line = QueuedEvent.dumpLine(sequence: 1, record: [])
        #expect((try? JSONParser.parse(line)) != nil, "got \(String(decoding: line, as: UTF8.self).debugDescription)")
    }

    /// `encoded()` splices `receivedAt` in without escaping it. The worker re-encodes a replayed
    /// dead letter with the `receivedAt` read (unescaped) from the dead-letter file, so a file
    /// whose receivedAt holds `"` or `\n` becomes a queue record that is not JSON: the worker
    /// then dead-letters it as `{"undecodable":true}` and the event itself is lost from the store.
    @Test func encodedRecordDecodesWhateverTheReceivedAt() throws {
        let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z\n\"x", eventSequence: nil, event: Array(#"{"a":1}"#.utf8))
        #expect(try QueuedEvent.decode(queued.encoded()) == queued)
    }
}
