import ByteJSON
import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Starts the built binary as a user would and talks to it over TCP.
@Suite(.serialized) struct ReceiveEndToEndTests {
    static let key = "LR+QgKlbRciIPYpi65tTKLaZ3FzLLofCNEQWrRXqWXJeDFrfexzfVI9SmnVuCWDJ4jnjHB9ECtOyxZSofRxwWw=="

    struct Setup {
        let dir: TemporaryDirectory
        let config: String
        var environment: [String: String] { ["PAN_SEC_XERO_WEBHOOK_KEY": ReceiveEndToEndTests.key] }

        init() throws {
            dir = try TemporaryDirectory("xero-webhookd-e2e")
            config = dir.file("config.json")
            let json = #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "log": {"level": "debug"}}"#
            try writeFile(config, json)
        }
    }

    static func itrBody(_ entropy: String) -> [UInt8] {
        Array(#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "\#(entropy)"}"#.utf8)
    }

    static func post(_ body: [UInt8], signature: String?) -> [UInt8] {
        RawHTTPClient.post("/webhooks/xero", body: body, headers: signature.map { [("x-xero-signature", $0)] } ?? [])
    }

    @Test func intentToReceiveThenEventsThenSigtermThenDump() throws {
        let setup = try Setup()
        defer { setup.dir.remove() }
        let daemon = try DaemonProcess(["serve", "--config", setup.config, "--listen", "127.0.0.1:0"], environment: setup.environment)
        let signer = WebhookSignature(current: Self.key)
        // The listener plus anything inherited from the test runner.
        let sockets = { daemon.openDescriptorTargets().filter { $0.hasPrefix("socket:") }.count }
        let idleSockets = sockets()

        // Intent to receive: Xero's real captured pair, then fresh good, wrong and unsigned ones.
        let vectors = SignatureVector.all().filter { $0.key == Self.key }
        #expect(vectors.count >= 2)
        let itr = try RawHTTPClient(port: daemon.port)
        for vector in vectors {
            let response = try itr.exchange(Self.post(vector.body, signature: vector.signature))
            #expect(response.status == vector.expect, "\(vector.name)")
            #expect(response.body.isEmpty)
            #expect(response.header("Set-Cookie") == nil)
        }
        for round in 0..<3 {
            let body = Self.itrBody("ENTROPY\(round)ABCDEFGHIJKL")
            let good = signer.signature(for: body)
            #expect(try itr.exchange(Self.post(body, signature: good)).status == 200)
            let bad = (good.first == "A" ? "B" : "A") + good.dropFirst()
            #expect(try itr.exchange(Self.post(body, signature: bad)).status == 401)
            #expect(try itr.exchange(Self.post(body, signature: nil)).status == 401)
        }

        // One event opens the queue's segment file; with the handshake connection closed, this
        // is the descriptor baseline that the traffic below must return to.
        let accepted = LockedEvents()
        let first = Array(#"{"events":[{"resourceId":"warm-up","eventCategory":"CONTACT","tenantId":"t"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"E"}"#.utf8)
        #expect(try itr.exchange(Self.post(first, signature: signer.signature(for: first))).status == 200)
        accepted.add([#"{"resourceId":"warm-up","eventCategory":"CONTACT","tenantId":"t"}"#])
        itr.close()
        #expect(waitUntil(seconds: 30) { sockets() == idleSockets },
                "descriptors: \(daemon.openDescriptorTargets())")
        let baseline = daemon.openDescriptorTargets()

        // Signed event batches over several keep-alive connections at once.
        let connections = 4, batches = 15
        let port = daemon.port
        DispatchQueue.concurrentPerform(iterations: connections) { c in
            guard let client = try? RawHTTPClient(port: port) else { return }
            for b in 0..<batches {
                let count = 1 + (b % 3)
                let events = (0..<count).map { i in
                    #"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/\#(c)-\#(b)-\#(i)","resourceId":"\#(c)-\#(b)-\#(i)","eventDateUtc":"2024-06-21T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"t\#(c)","tenantType":"ORGANISATION"}"#
                }
                let body = Array(#"{"events":[\#(events.joined(separator: ","))],"firstEventSequence":1,"lastEventSequence":\#(count),"entropy":"E"}"#.utf8)
                if let response = try? client.exchange(Self.post(body, signature: signer.signature(for: body))), response.status == 200 {
                    accepted.add(events)
                }
            }
        }
        #expect(accepted.count == 1 + (0..<batches).map { 1 + $0 % 3 }.reduce(0, +) * connections)

        // All client connections are gone: the daemon must be back to its baseline descriptors.
        #expect(waitUntil(seconds: 30) { daemon.openDescriptorTargets().count == baseline.count },
                "descriptors now \(daemon.openDescriptorTargets()), baseline \(baseline)")

        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.contains(" stopped"))
        #expect(!daemon.stderr.contains(Self.key))

        let dump = try Binary.run(["queue", "dump", "--config", setup.config])
        #expect(dump.status == 0)
        let lines = dump.stdout.split(separator: "\n").map { Array($0.utf8) }
        var dumped: [String] = []
        var sequences: [Int64] = []
        for line in lines {
            let record = try JSONParser.parse(line)
            let event = try #require(record["event"])
            dumped.append(String(decoding: line[event.range], as: UTF8.self))
            sequences.append(try #require(record["sequence"]?.int64Value))
            #expect(record["receivedAt"]?.stringValue?.hasSuffix("Z") == true)
        }
        #expect(Set(dumped) == Set(accepted.all))
        #expect(dumped.count == accepted.count)
        #expect(sequences == Array(1...Int64(sequences.count)))
    }

    /// A delivery pretty-printed with CRLF: the signature is checked over those bytes, the queue
    /// keeps them as received, and `queue dump` still prints exactly one JSON line per event.
    @Test func prettyPrintedDeliveryIsQueuedAsReceivedAndDumpsOneLinePerEvent() throws {
        let setup = try Setup()
        defer { setup.dir.remove() }
        let events = (1...2).map { n in
            "{\r\n      \"resourceUrl\": \"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf77\(n)\",\r\n"
                + "      \"resourceId\": \"717f2bfc-c6d4-41fd-b238-3f2f0c0cf77\(n)\",\r\n      \"eventDateUtc\": \"2024-06-21T01:15:39.902\",\r\n"
                + "      \"eventType\": \"UPDATE\",\r\n      \"eventCategory\": \"CONTACT\",\r\n"
                + "      \"tenantId\": \"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f\",\r\n      \"tenantType\": \"ORGANISATION\"\r\n    }"
        }
        let body = Array(("{\r\n  \"events\": [\r\n    " + events.joined(separator: ",\r\n    ")
            + "\r\n  ],\r\n  \"lastEventSequence\": 2,\r\n  \"firstEventSequence\": 1,\r\n  \"entropy\": \"S0m3r4Nd0mt3xt\"\r\n}").utf8)
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try client.exchange(Self.post(body, signature: WebhookSignature(current: Self.key).signature(for: body))).status == 200)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)

        // As received: the segment holds each event's indented bytes.
        let queueDir = setup.dir.file("state/queue")
        let segments = try FileManager.default.contentsOfDirectory(atPath: queueDir).filter { $0.hasSuffix(".seg") || $0.hasPrefix("segment") }
        let stored = try segments.reduce(into: [UInt8]()) { $0 += Array(try Data(contentsOf: URL(fileURLWithPath: queueDir + "/" + $1))) }
        for event in events { #expect(stored.firstRange(of: Array(event.utf8)) != nil, "the queue keeps the bytes as received") }

        let dump = try Binary.run(["queue", "dump", "--config", setup.config])
        #expect(dump.status == 0)
        let lines = Array(dump.stdout.utf8).split(separator: 0x0A)
        #expect(lines.count == 2)
        for (line, event) in zip(lines, events) {
            #expect(!line.contains(0x0D))
            let record = try JSONParser.parse(Array(line))
            let dumped = try #require(record["event"])
            #expect(Array(Array(line)[dumped.range]) == JSONText.compacted(Array(event.utf8)))
        }
    }

    @Test func restartKeepsTheQueueAndContinuesSequences() throws {
        let setup = try Setup()
        defer { setup.dir.remove() }
        let signer = WebhookSignature(current: Self.key)
        let body = Array(#"{"events":[{"resourceId":"a","eventCategory":"CONTACT","tenantId":"t"}],"firstEventSequence":5,"lastEventSequence":5,"entropy":"E"}"#.utf8)
        for _ in 0..<2 {
            let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
            let client = try RawHTTPClient(port: daemon.port)
            #expect(try client.exchange(Self.post(body, signature: signer.signature(for: body))).status == 200)
            daemon.signal(SIGINT)
            #expect(daemon.waitForExit() == 0)
        }
        let dump = try Binary.run(["queue", "dump", "--config", setup.config])
        let lines = dump.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix(#"{"sequence":2,"#) == true)
    }

    @Test func secondDaemonOnTheSameStateIsRefused() throws {
        let setup = try Setup()
        defer { setup.dir.remove() }
        let first = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let second = try Binary.run(["serve", "--config", setup.config], environment: setup.environment)
        #expect(second.status != 0)
        #expect(second.stderr.contains("lock"))
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
    }

    @Test func badConfigStopsAtStartWithKeyAndReason() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("bad.json")
        try writeFile(path, #"{"listen": {"port": 70000}}"#)
        let result = try Binary.run(["serve", "--config", path], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "bad-config-key-0123"])
        #expect(result.status == 78)
        #expect(result.stderr.contains("config: listen.port: 70000 is not a port"))
        let noKey = try Binary.run(["serve"], environment: [:])
        #expect(noKey.status == 78)
        #expect(noKey.stderr.contains("no webhook key"))
    }

    /// A key file with a comment line, as an operator writes it: the comment's words are not
    /// keys (a delivery signed with `#` or `xero` is 401), the key is; a key variable with
    /// spaces inside stops the start (78) without showing the key.
    @Test func keyFileCommentsAreNotKeysAndASpacedKeyStopsTheStart() throws {
        let setup = try Setup()
        defer { setup.dir.remove() }
        try writeFile(setup.dir.file("webhook.key"), "# xero webhook key (rotated 2026-11)\n\(Self.key)\n")
        try writeFile(setup.config, #"{"stateDirectory": "\#(setup.dir.file("state"))", "listen": {"port": 0}, "webhook": {"keyFile": "\#(setup.dir.file("webhook.key"))"}}"#)
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: [:])
        let body = Self.itrBody("KEYFILECOMMENTLINES0")
        for (key, status) in [("#", 401), ("xero", 401), ("(rotated", 401), (Self.key, 200)] {
            let client = try RawHTTPClient(port: daemon.port)
            #expect(try client.exchange(Self.post(body, signature: WebhookSignature(current: key).signature(for: body))).status == status, "\(key)")
        }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        let spaced = try Binary.run(["serve", "--config", setup.config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "your webhook key"])
        #expect(spaced.status == 78)
        #expect(spaced.stderr.contains("PAN_SEC_XERO_WEBHOOK_KEY") && !spaced.stderr.contains("your"), "\(spaced.stderr)")
    }

    @Test func checkConfigPrintsSettingsWithSecretsMasked() throws {
        let setup = try Setup()
        defer { setup.dir.remove() }
        let result = try Binary.run(["check-config", "--config", setup.config], environment: setup.environment)
        #expect(result.status == 0)
        #expect(result.stdout.contains("listen.port: 0"))
        #expect(result.stdout.contains("webhook.keys: 1 key from environment PAN_SEC_XERO_WEBHOOK_KEY"))
        #expect(!result.stdout.contains(Self.key))
        #expect(!result.stderr.contains(Self.key))
    }

    @Test(arguments: SignatureVector.all().filter { $0.expect == 200 })
    func signPrintsXerosSignature(_ vector: SignatureVector) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("key"), (vector.key + "\n"))
        let result = try Binary.run(["sign", "--key-file", dir.file("key")], stdin: vector.body)
        #expect(result.status == 0)
        #expect(result.stdout == vector.signature + "\n")
    }

    @Test func selftestPassesAgainstTheDaemonAndFailsAgainstAWrongEndpoint() throws {
        let setup = try Setup()
        defer { setup.dir.remove() }
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let good = try Binary.run(["selftest", "http://127.0.0.1:\(daemon.port)/webhooks/xero"], environment: setup.environment)
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("PASS  wrongly signed (one character changed): status 401, want 401"))
        #expect(good.stdout.contains("selftest passed"))
        // The health endpoint answers 405 to POST: every status check fails.
        let bad = try Binary.run(["selftest", "http://127.0.0.1:\(daemon.port)/healthz"], environment: setup.environment)
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("FAIL  correctly signed: status 405, want 200"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }
}

final class LockedEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String] = []
    func add(_ more: [String]) { lock.lock(); events += more; lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return events }
    var count: Int { all.count }
}
