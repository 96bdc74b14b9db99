import ByteJSON
import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `worker.mode: events` with no Xero credentials: the events themselves reach the sink (they
/// used to stay queued for ever with `xero.auth.mode` none), coalesced per resource, in order,
/// and the queue is consumed.
@Suite struct EventsModeEndToEndTests {
    @Test func eventsReachTheSinkWithoutXero() throws {
        let dir = try TemporaryDirectory("xero-webhookd-events")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"""
        {"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "worker": {"mode": "events"},
         "sink": {"type": "directory", "directory": "\#(dir.file("out"))"}}
        """#)
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key])
        let client = try RawHTTPClient(port: daemon.port)
        // Xero's own indentation and CRLF inside the delivery: each record must stay one line.
        let events = [CrashOracle.event("ev-1"), CrashOracle.event("ev-2")].joined(separator: ",\r\n    ")
        let body = Array("{\r\n  \"events\": [\r\n    \(events)\r\n  ],\r\n  \"firstEventSequence\": 1,\r\n  \"lastEventSequence\": 2,\r\n  \"entropy\": \"EVENTS\"\r\n}".utf8)
        let signature = WebhookSignature(current: CrashOracle.key).signature(for: body)
        #expect(try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status == 200)
        func lines() -> [JSONValue] {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("out"))) ?? []).sorted()
            return files.flatMap { file -> [JSONValue] in
                let bytes = FileManager.default.contents(atPath: dir.file("out/\(file)")).map(Array.init) ?? []
                return bytes.split(separator: 0x0A).compactMap { try? JSONParser.parse(Array($0)) }
            }
        }
        #expect(waitUntil(seconds: 30) { lines().flatMap { $0["events"]?.arrayValue ?? [] }.count == 2 }, "\(daemon.stderr)")
        for record in lines() {
            #expect(record["resource"] == nil && record["fetchedAt"] == nil)
            #expect(record["eventIds"]?.arrayValue?.count == record["events"]?.arrayValue?.count)
            #expect(record["events"]?.arrayValue?.allSatisfy { $0["resourceUrl"]?.stringValue != nil } == true)
        }
        #expect(waitUntil(seconds: 10) {
            ((try? Binary.run(["queue", "status", "--config", config]).stdout) ?? "").contains("pending: 0")
        })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(!daemon.stderr.contains("events stay queued"))
    }
}
