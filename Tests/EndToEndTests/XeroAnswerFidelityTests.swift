import ByteJSON
import EventRecord
import FakeXero
import Foundation
import TestSupport
import Testing
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
    static let key = "fidelity-key-0123456789"

    /// One daemon against one fake, with one organisation.
    final class Run: @unchecked Sendable {
        let dir: TemporaryDirectory
        let fake = FakeXero()
        let baseURL: String
        let config: String
        /// The organisation of the fixtures (their `/connections` answer lists it).
        let tenant = "6f3c2a9e-1b7d-4c58-9e0a-2d4b8f61c7a3"
        var daemon: DaemonProcess!

        let clientID = "fidelity-client", clientSecret = "fidelity-secret"

        init(maxAttempts: Int = 2) throws {
            dir = try TemporaryDirectory("xero-webhookd-fidelity")
            baseURL = try fake.start()
            fake.addTenant(tenant, name: "Fidelity Ltd")
            fake.registerClient(id: clientID, secret: clientSecret, appStore: true)
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
            daemon = try DaemonProcess(["serve", "--config", config], environment: [
                "PAN_SEC_XERO_WEBHOOK_KEY": XeroAnswerFidelityTests.key,
                "PAN_SEC_XERO_CLIENT_ID": clientID, "PAN_SEC_XERO_CLIENT_SECRET": clientSecret,
            ])
        }

        static let collections = ["INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"]
        static let applicationID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

        /// Posts one signed delivery with an event per id.
        func post(category: String, ids: [String]) throws {
            let events = ids.map { id in
                let (url, tenant, type) = category == "SUBSCRIPTION"
                    ? ("\(baseURL)/appstore/2.0/subscriptions/\(id)", Self.applicationID, "APPLICATION")
                    : ("\(baseURL)/api.xro/2.0/\(Self.collections[category] ?? category)/\(id)", self.tenant, "ORGANISATION")
                return #"{"resourceUrl":"\#(url)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"\#(category)","tenantId":"\#(tenant)","tenantType":"\#(type)"}"#
            }
            let body = Array(#"{"events":[\#(events.joined(separator: ","))],"firstEventSequence":1,"lastEventSequence":\#(events.count),"entropy":"FIDELITYFIDELITYFIDE"}"#.utf8)
            let signature = WebhookSignature(current: XeroAnswerFidelityTests.key).signature(for: body)
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
                for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {  // the last piece is a write in progress
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

        /// The body of `/readyz`.
        func readiness() -> String {
            guard let client = try? RawHTTPClient(port: daemon.port),
                  let answer = try? client.exchange(Array("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) else { return "" }
            return String(decoding: answer.body, as: UTF8.self)
        }

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

/// What the worker must do with one captured answer.
struct FidelityCase: Sendable, CustomStringConvertible {
    enum Outcome: Sendable {
        /// The records in the answer are delivered, each `resource` equal to the answer's element.
        case records(collection: String, idKey: String)
        /// The whole body is the record (the App Store's bare subscription object).
        case bodyRecord
        /// A record with `notFound: true` and `resource: null`.
        case notFound
        /// Tried again (counting an attempt) and delivered once Xero answers normally.
        case retried
        /// Waited for (Retry-After or backoff) without counting attempts: served more often than
        /// `maxAttempts`, still delivered, never dead.
        case waited
        /// Dead-lettered at once, with Xero's message in the last error.
        case dead(mentioning: String)
        /// The tenant is parked as disconnected (not dead), named by `queue status`, and resumes
        /// once `/connections` lists it again.
        case parked
        /// The credential is paused (no attempts counted), named by `/readyz`, and work resumes
        /// once Xero accepts it again.
        case paused
    }

    let fixture: String
    let category: String
    let outcome: Outcome
    var times = 1

    var description: String { fixture }

    static let all: [FidelityCase] = [
        .init(fixture: "invoices-batch-200", category: "INVOICE", outcome: .records(collection: "Invoices", idKey: "InvoiceID")),
        .init(fixture: "invoice-single-200", category: "INVOICE", outcome: .records(collection: "Invoices", idKey: "InvoiceID")),
        .init(fixture: "contacts-batch-200", category: "CONTACT", outcome: .records(collection: "Contacts", idKey: "ContactID")),
        .init(fixture: "creditnote-single-200", category: "CREDITNOTE", outcome: .records(collection: "CreditNotes", idKey: "CreditNoteID")),
        .init(fixture: "subscription-200", category: "SUBSCRIPTION", outcome: .bodyRecord),
        .init(fixture: "subscription-404", category: "SUBSCRIPTION", outcome: .notFound),
        .init(fixture: "error-404-not-found-text", category: "CREDITNOTE", outcome: .notFound),
        .init(fixture: "error-404-single-empty", category: "CREDITNOTE", outcome: .notFound),
        .init(fixture: "error-404-url-too-long", category: "INVOICE", outcome: .retried),
        .init(fixture: "error-500", category: "INVOICE", outcome: .retried),
        .init(fixture: "error-503-maintenance", category: "CONTACT", outcome: .retried),
        .init(fixture: "error-503-unavailable", category: "CREDITNOTE", outcome: .retried),
        .init(fixture: "error-503-organisation-offline", category: "INVOICE", outcome: .retried),
        .init(fixture: "error-429-minute", category: "INVOICE", outcome: .waited, times: 3),
        .init(fixture: "error-429-appminute", category: "CONTACT", outcome: .waited, times: 3),
        .init(fixture: "error-429-day", category: "CREDITNOTE", outcome: .waited, times: 3),
        .init(fixture: "error-429-concurrent", category: "INVOICE", outcome: .waited, times: 3),
        .init(fixture: "error-400-validation", category: "CREDITNOTE", outcome: .dead(mentioning: "A validation exception occurred")),
        .init(fixture: "error-400-query-parse", category: "CREDITNOTE", outcome: .dead(mentioning: "Expression expected")),
        .init(fixture: "error-400-ids-unparseable", category: "INVOICE", outcome: .dead(mentioning: "Supplied parameter 'Ids' cannot be parsed.")),
        .init(fixture: "error-400-ids-not-uuid", category: "CONTACT", outcome: .dead(mentioning: "must be of type UUID")),
        .init(fixture: "error-403-forbidden", category: "INVOICE", outcome: .parked),
        .init(fixture: "error-401-token-expired", category: "INVOICE", outcome: .paused),
        .init(fixture: "error-401-unauthorized", category: "CONTACT", outcome: .paused),
    ]

    /// Fixtures checked elsewhere: `connections-200` (the 403 case's recheck), the identity
    /// server's `token-*` answers (`XeroAPITests`).
    static let coveredElsewhere: Set<String> = ["connections-200", "token-200", "token-400-invalid-grant"]
}

extension XeroAnswerFidelityTests {
    @Test func everyFixtureHasAFidelityCase() {
        let covered = Set(FidelityCase.all.map(\.fixture)).union(FidelityCase.coveredElsewhere)
        let names = XeroAnswers.names()
        #expect(names.count >= 25)
        for name in names { #expect(covered.contains(name), "no fidelity case for \(name)") }
    }

    @Test(arguments: FidelityCase.all) func workerHandlesXerosAnswer(_ fidelity: FidelityCase) throws {
        let run = try Run()
        defer { run.stop() }
        var answer = try XeroAnswerFixture.load(fidelity.fixture).answer
        // Whatever Xero asks to wait (Retry-After, a spent counter), the test waits a second:
        // what matters is that waiting counts no attempt. Every other byte is Xero's.
        answer.headers = answer.headers.map { header in
            let name = header.name.lowercased()
            let shortened = name == "retry-after" || (name.hasSuffix("limit-remaining") && header.value == "0")
            return shortened ? .init(name: header.name, value: "1") : header
        }
        let fixture = XeroAnswerFixture(name: fidelity.fixture, answer: answer)
        let collection = Run.collections[fidelity.category] ?? ""
        var ids: [String]
        var expected: [String: [UInt8]] = [:]
        switch fidelity.outcome {
        case let .records(name, idKey):
            let records = fixture.records(name, idKey: idKey)
            ids = records.map(\.id)
            for record in records { expected[record.id] = JSONText.compacted(record.bytes) }
        case .bodyRecord:
            ids = [try #require(fixture.body?["id"]?.stringValue)]
            expected[ids[0]] = JSONText.compacted(answer.body)
        default:
            ids = [Self.newID()]
            // Xero has the record: once the captured answer is spent, a normal answer follows.
            if fidelity.category != "SUBSCRIPTION" { run.fake.addRecord(tenant: run.tenant, collection: collection, id: ids[0]) }
        }
        #expect(!ids.isEmpty)
        run.fake.serve(answer, tenant: fidelity.category == "SUBSCRIPTION" ? "appstore" : run.tenant, times: fidelity.times)
        if case .parked = fidelity.outcome {
            // Disconnected at first: the 403 is checked against /connections, which does not list
            // the tenant (a listed tenant's 403 is a refusal, not a disconnection); then it is listed again.
            var empty = try XeroAnswerFixture.load("connections-200").answer
            empty.body = Array("[]".utf8)
            run.fake.serve(empty, tenant: "connections", times: 1)
            run.fake.serve(try XeroAnswerFixture.load("connections-200").answer, tenant: "connections", times: 100)
        }
        try run.start()
        try run.post(category: fidelity.category, ids: ids)

        switch fidelity.outcome {
        case .records, .bodyRecord:
            #expect(waitUntil(seconds: 30) { run.records().count == ids.count }, "\(run.daemon.stderr)")
            for id in ids { #expect(run.resource(id) == expected[id], "\(id): the record is the answer's element, one line") }
        case .notFound:
            #expect(waitUntil(seconds: 30) { run.records()[ids[0]] != nil }, "\(run.daemon.stderr)")
            let record = try #require(run.records()[ids[0]]?.value)
            #expect(record["notFound"]?.kind == .bool(true))
            #expect(record["resource"]?.kind == .null)
        case .retried, .waited, .paused, .parked:
            if case .paused = fidelity.outcome {
                #expect(waitUntil(seconds: 30) { run.readiness().contains(#""paused":"#) }, "\(run.daemon.stderr)")
                #expect(run.queueStatus().contains("paused"))
                // What the operator does: a new token, then SIGHUP.
                try run.writeToken(run.fake.issueAccessToken(tenants: [run.tenant], lifetime: 3600))
                run.daemon.signal(SIGHUP)
            }
            if case .parked = fidelity.outcome {
                #expect(waitUntil(seconds: 30) {
                    run.queueStatus().split(separator: "\n").contains { $0.hasPrefix("paused") && $0.contains(run.tenant) }
                }, "\(run.daemon.stderr)")
                #expect(run.readiness().contains(run.tenant), "/readyz names the disconnected tenant")
                run.daemon.signal(SIGHUP)  // checks /connections now, which lists the tenant again
            }
            #expect(waitUntil(seconds: 30) { run.records()[ids[0]] != nil }, "\(run.daemon.stderr)")
            #expect(run.records()[ids[0]]?.value["notFound"]?.kind == .bool(false))
            #expect(run.calls() >= fidelity.times + 1, "the captured answer was served, then a normal one")
        case let .dead(text):
            #expect(waitUntil(seconds: 30) { !run.deadLetters().isEmpty }, "\(run.daemon.stderr)")
            let letter = try #require(run.deadLetters().first)
            #expect(letter.lastError.contains(text), "\(letter.lastError)")
            #expect(letter.attempts == 1, "retrying cannot help: dead at the first answer")
            #expect(run.records().isEmpty)
        }
        if case .dead = fidelity.outcome {} else {
            #expect(run.deadLetters().isEmpty, "\(run.deadLetters().map(\.lastError))")
        }
    }
}
