import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing
import XeroWebhooks
#if canImport(Glibc)
import Glibc
#endif

/// One captured Xero answer shape (`Tests/Fixtures/xero-answers/<name>.http`, sources in
/// `SOURCES.md` there), served byte for byte by the fake to the built binary.
struct XeroAnswerFixture: Sendable, CustomStringConvertible {
    let name: String
    let answer: CannedAnswer

    static func load(_ name: String) throws -> XeroAnswerFixture {
        XeroAnswerFixture(name: name, answer: try CannedAnswer(rawHTTP: XeroAnswers.raw(name)))
    }

    var description: String { name }

    var body: JSONValue? { try? JSONParser.parse(answer.body) }

    /// The elements of the answer's `collection` array with their `idKey`, and their bytes as sent.
    func records(_ collection: String, idKey: String) -> [(id: String, bytes: [UInt8])] {
        guard let items = body?[collection]?.arrayValue else { return [] }
        return items.compactMap { item in
            item[idKey]?.stringValue.map { ($0.lowercased(), Array(answer.body[item.range])) }
        }
    }
}

/// For each captured Xero answer: the built daemon, a fake serving that answer byte for byte
/// where Xero would, and what the worker must do with it (record, not found, retry, wait,
/// park, pause, dead letter). Every record written is one JSON line whose `resource` is the
/// fixture's record value.
@Suite struct XeroAnswerFidelityTests {
    static let key = "fidelity-key"

    /// One daemon against one fake, with one organisation.
    final class Run: @unchecked Sendable {
        let dir: TemporaryDirectory
        let fake = FakeXero()
        let baseURL: String
        let config: String
        let tenant = UUID().uuidString.lowercased()
        var daemon: DaemonProcess!

        init(maxAttempts: Int = 2) throws {
            dir = try TemporaryDirectory("xero-webhookd-fidelity")
            baseURL = try fake.start()
            fake.addTenant(tenant, name: "Fidelity Ltd")
            config = dir.file("config.json")
            try writeFile(dir.file("token.json"), #"{"access_token":"\#(fake.issueAccessToken(tenants: [tenant], lifetime: 3600))","expires_in":3600}"#)
            try writeFile(config, #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)",
                      "auth": {"mode": "accessToken", "accessTokenFile": "\#(dir.file("token.json"))"}},
             "worker": {"backoffBaseMilliseconds": 20, "backoffCapMilliseconds": 100, "maxAttempts": \#(maxAttempts)},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"}}
            """#)
        }

        func writeToken(_ token: String) throws {
            try writeFile(dir.file("token.json"), #"{"access_token":"\#(token)","expires_in":3600}"#)
        }

        func start() throws {
            daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": XeroAnswerFidelityTests.key])
        }

        static let collections = ["INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"]

        /// Posts one signed delivery with an event per id.
        func post(category: String, ids: [String]) throws {
            let collection = Self.collections[category] ?? category
            let events = ids.map { id in
                #"{"resourceUrl":"\#(baseURL)/api.xro/2.0/\#(collection)/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"\#(category)","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
            }
            let body = Array(#"{"events":[\#(events.joined(separator: ","))],"firstEventSequence":1,"lastEventSequence":\#(events.count),"entropy":"FIDELITYFIDELITYFIDE"}"#.utf8)
            let signature = WebhookSignature(keys: [XeroAnswerFidelityTests.key]).signature(for: body)
            let client = try RawHTTPClient(port: daemon.port)
            let status = try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status
            #expect(status == 200)
        }

        /// Every record line written so far, checked to be one JSON line each, by resource id.
        func records() -> [String: (line: [UInt8], value: JSONValue)] {
            var out: [String: (line: [UInt8], value: JSONValue)] = [:]
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("out"))) ?? []).sorted()
            for file in files {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: dir.file("out/\(file)")))).map(Array.init) ?? []
                for line in bytes.split(separator: 0x0A) {
                    guard !line.contains(0x0D), let value = try? JSONParser.parse(Array(line)),
                          let id = value["resourceId"]?.stringValue?.lowercased() else {
                        Issue.record("\(file): not one JSON record per line: \(String(decoding: line.prefix(160), as: UTF8.self))")
                        continue
                    }
                    out[id] = (Array(line), value)
                }
            }
            return out
        }

        /// The `resource` bytes of the record for `id`, as written.
        func resource(_ id: String) -> [UInt8]? {
            guard let (line, value) = records()[id.lowercased()], let resource = value["resource"] else { return nil }
            return Array(line[resource.range])
        }

        func deadLetters() -> [DeadLetterFile] {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/dead"))) ?? []).filter { $0.hasSuffix(".json") }
            return names.compactMap { name in
                guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: dir.file("state/dead/\(name)"))),
                      let value = try? JSONParser.parse(Array(bytes)) else { return nil }
                return DeadLetterFile(attempts: value["attempts"]?.int64Value ?? -1, lastError: value["lastError"]?.stringValue ?? "")
            }
        }

        struct DeadLetterFile { let attempts: Int64; let lastError: String }

        func calls() -> Int { fake.stats.callsByTenant[tenant]?.values.reduce(0, +) ?? 0 }

        func queueStatus() -> String { ((try? Binary.run(["queue", "status", "--config", config]))?.stdout) ?? "" }

        func stop() {
            if let daemon {
                daemon.signal(SIGTERM)
                #expect(daemon.waitForExit() == 0)
            }
            fake.shutdown()
            dir.remove()
        }
    }

    static func newID() -> String { UUID().uuidString.lowercased() }
}
