import ByteJSON
import EventRecord
import FakeXero
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The whole path with the real binary: signed deliveries in, records fetched from a fake Xero
/// (the only fake: it obeys Xero's rules) and written by the directory sink.
@Suite(.serialized) struct WorkerEndToEndTests {
    static let key = "worker-e2e-key-0123456789"

    final class Setup: @unchecked Sendable {
        let dir: TemporaryDirectory
        let fake = FakeXero()
        let baseURL: String
        let config: String
        var environment: [String: String] { ["PAN_SEC_XERO_WEBHOOK_KEY": WorkerEndToEndTests.key] }

        /// `sink`: the sink's config object; nil: the directory sink writing to `out`.
        /// `auth`: the `xero.auth` object; nil: an access token file for `tenants`.
        /// `limits`: the `xero.limits` object, if any.
        init(tenants: [String], worker: String = #"{"backoffBaseMilliseconds": 20, "backoffCapMilliseconds": 100, "maxAttempts": 3}"#,
             auth: String? = nil, limits: String? = nil, sink: ((TemporaryDirectory) -> String)? = nil) throws {
            dir = try TemporaryDirectory("xero-webhookd-worker-e2e")
            baseURL = try fake.start()
            for tenant in tenants { fake.addTenant(tenant, name: "Org \(tenant)") }
            let token = fake.issueAccessToken(tenants: tenants, lifetime: 3600)
            try writeFile(dir.file("token.json"), #"{"access_token":"\#(token)","expires_in":3600}"#)
            config = dir.file("config.json")
            try writeFile(config, #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)",
                      "auth": \#(auth ?? #"{"mode": "accessToken", "accessTokenFile": "\#(dir.file("token.json"))"}"#)\#(limits.map { #", "limits": \#($0)"# } ?? "")},
             "worker": \#(worker),
             "sink": \#(sink?(dir) ?? #"{"type": "directory", "directory": "\#(dir.file("out"))"}"#)}
            """#)
        }

        func event(tenant: String, category: String, id: String, type: String = "UPDATE") -> String {
            let collection = category == "CONTACT" ? "Contacts" : "Invoices"
            return #"{"resourceUrl":"\#(baseURL)/api.xro/2.0/\#(collection)/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"\#(type)","eventCategory":"\#(category)","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
        }

        func post(_ client: RawHTTPClient, _ events: [String]) throws -> Int {
            let body = Array(#"{"events":[\#(events.joined(separator: ","))],"firstEventSequence":1,"lastEventSequence":\#(events.count),"entropy":"E2E"}"#.utf8)
            let signature = WebhookSignature(current: WorkerEndToEndTests.key).signature(for: body)
            return try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status
        }

        /// Every line the directory sink has written so far.
        func records() -> [JSONValue] {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("out"))) ?? []).sorted()
            var out: [JSONValue] = []
            for file in files {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: dir.file("out/\(file)")))).map(Array.init) ?? []
                // Every line must be one whole JSON record (JSON Lines); a record split across
                // lines fails the test instead of being skipped. Split on LF bytes: a String
                // split on "\n" would keep "\r\n" (one Character) inside a line. A last piece
                // without its LF is a write in progress (or cut by a kill, and cut off at restart).
                for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
                    do {
                        guard !line.contains(0x0D) else { throw JSONParser.Failure(offset: 0, reason: "CR in a JSON line") }
                        out.append(try JSONParser.parse(Array(line)))
                    } catch {
                        Issue.record("\(file): a line that is not one JSON record (\(error)): \(String(decoding: line.prefix(120), as: UTF8.self))")
                    }
                }
            }
            return out
        }

        func deliveredResources() -> Set<String> {
            Set(records().compactMap { r in r["resourceId"]?.stringValue.map { "\(r["tenantId"]?.stringValue ?? "")/\($0)" } })
        }

        func deliveredEventIDs() -> [String] {
            records().flatMap { $0["eventIds"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        }

        deinit {
            fake.shutdown()
            dir.remove()
        }
    }

    @Test func signedBatchesBecomeOneRecordPerResourceWithBatchedCalls() throws {
        let tenants = ["t-one", "t-two", "t-three"]
        let setup = try Setup(tenants: tenants)
        var expected = Set<String>()
        var events: [String] = []
        for tenant in tenants {
            for n in 0..<30 {
                let invoice = String(format: "00000000-0000-0000-0000-%012d", n % 20)  // repeated ids
                setup.fake.addRecord(tenant: tenant, collection: "Invoices", id: invoice)
                events.append(setup.event(tenant: tenant, category: "INVOICE", id: invoice))
                expected.insert("\(tenant)/\(invoice)")
            }
            for n in 0..<5 {
                let contact = String(format: "10000000-0000-0000-0000-%012d", n)
                setup.fake.addRecord(tenant: tenant, collection: "Contacts", id: contact)
                events.append(setup.event(tenant: tenant, category: "CONTACT", id: contact))
                expected.insert("\(tenant)/\(contact)")
            }
        }
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        for chunk in stride(from: 0, to: events.count, by: 15) {
            #expect(try setup.post(client, Array(events[chunk..<min(chunk + 15, events.count)])) == 200)
        }
        #expect(waitUntil(seconds: 30) { setup.deliveredResources() == expected }, "delivered \(setup.deliveredResources().count) of \(expected.count)")
        // Every event id is covered, and the record holds the fetched JSON.
        let ids = Set(events.map { EventID.of(Array($0.utf8))! })
        #expect(Set(setup.deliveredEventIDs()) == ids)
        let sample = try #require(setup.records().first { $0["category"]?.stringValue == "INVOICE" })
        #expect(sample["resource"]?["InvoiceID"]?.stringValue == sample["resourceId"]?.stringValue)
        // Batched: far fewer calls than events.
        let calls = setup.fake.stats.callsByTenant
        for tenant in tenants {
            let perTenant = calls[tenant]?.values.reduce(0, +) ?? 0
            #expect(perTenant <= 6, "tenant \(tenant) made \(perTenant) calls for 35 events")
        }
        #expect(setup.fake.stats.tooManyRequests == 0)
        // The queue drains to zero.
        #expect(waitUntil(seconds: 10) {
            ((try? Binary.run(["queue", "status", "--config", setup.config]).stdout) ?? "").contains("pending: 0")
        })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.contains("record delivered"))
        // No secret in a full run's logs: the webhook key and the Xero access token.
        let token = try String(contentsOfFile: setup.dir.file("token.json"), encoding: .utf8)
            .components(separatedBy: "\"")[3]
        #expect(token.count > 10)
        #expect(!daemon.stderr.contains(token) && !daemon.stderr.contains(WorkerEndToEndTests.key))
    }

    /// The daemon blocks SIGTERM/SIGINT/SIGHUP in every thread and ignores SIGPIPE; a command the
    /// sink runs must not inherit that (it could not be stopped, and would not die of a broken pipe).
    @Test func commandSinkRunsCommandsWithACleanSignalState() throws {
        let setup = try Setup(tenants: ["t-cmd"]) { dir in
            // exec: grep becomes the process the sink started (reading the shell's status from a
            // child would catch dash with every signal blocked around its fork).
            let script = #"cat > \#(dir.path)/record-$$.json && exec grep -E '^Sig(Blk|Ign):' /proc/self/status > \#(dir.path)/signals-$$"#
            return #"{"type": "command", "command": ["/bin/sh", "-c", "\#(script)"]}"#
        }
        setup.fake.addRecord(tenant: "t-cmd", collection: "Contacts", id: "30000000-0000-0000-0000-000000000001")
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [setup.event(tenant: "t-cmd", category: "CONTACT", id: "30000000-0000-0000-0000-000000000001")]) == 200)
        func signalFiles() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: setup.dir.path)) ?? []).filter { $0.hasPrefix("signals-") }
        }
        #expect(waitUntil(seconds: 30) {
            signalFiles().contains { ((try? String(contentsOfFile: setup.dir.file($0), encoding: .utf8)) ?? "").contains("SigIgn") }
        })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        let file = try #require(signalFiles().first)
        let lines = try String(contentsOfFile: setup.dir.file(file), encoding: .utf8).split(separator: "\n")
        func mask(_ name: String) -> UInt64? {
            lines.first { $0.hasPrefix(name + ":") }.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
        }
        #expect(mask("SigBlk") == 0, "\(lines)")
        // Signals 1-31 (SIGHUP, SIGINT, SIGPIPE, SIGTERM…) at their defaults. (glibc keeps its two
        // internal real-time signals as the test runner left them.)
        #expect(mask("SigIgn").map { $0 & 0x7FFF_FFFF } == 0, "\(lines)")
        let record = try #require(((try? FileManager.default.contentsOfDirectory(atPath: setup.dir.path)) ?? []).first { $0.hasPrefix("record-") })
        #expect(try String(contentsOfFile: setup.dir.file(record), encoding: .utf8).contains("30000000-0000-0000-0000-000000000001"))
    }

    /// A new access token written to the token file is picked up and logged once, never shown.
    @Test func renewedAccessTokenIsLoggedWithoutTheToken() throws {
        let setup = try Setup(tenants: ["t-renew"])
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        // The token file is read when first needed; /metrics needs it (no renewal yet).
        let client = try RawHTTPClient(port: daemon.port)
        let before = String(decoding: try client.exchange(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)).body, as: UTF8.self)
        #expect(before.contains("xero_webhookd_token_refreshes_total 0"))
        let token = setup.fake.issueAccessToken(tenants: ["t-renew"], lifetime: 3600)
        try writeFile(setup.dir.file("token.json"), #"{"access_token":"\#(token)","expires_in":3600}"#)
        #expect(waitUntil(seconds: 20) { daemon.stderr.contains("xero access token renewed") })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.components(separatedBy: "xero access token renewed").count == 2, "one line for one renewal")
        #expect(!daemon.stderr.contains(token))
    }

    @Test func killNineMidDeliveryLosesNothingAndDuplicatesKeepTheirIDs() throws {
        let setup = try Setup(tenants: ["t-a", "t-b"])
        var events: [String] = []
        for tenant in ["t-a", "t-b"] {
            for n in 0..<120 {
                let id = String(format: "20000000-0000-0000-0000-%012d", n)
                setup.fake.addRecord(tenant: tenant, collection: "Contacts", id: id)
                events.append(setup.event(tenant: tenant, category: "CONTACT", id: id))
            }
        }
        // Slow answers so the kill lands while deliveries are in flight.
        setup.fake.setResponseDelay(.milliseconds(300))
        let first = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: first.port)
        #expect(try setup.post(client, Array(events[0..<10])) == 200)
        #expect(waitUntil(seconds: 30) { !setup.records().isEmpty })
        for chunk in stride(from: 10, to: events.count, by: 10) {
            #expect(try setup.post(client, Array(events[chunk..<min(chunk + 10, events.count)])) == 200)
        }
        // Every event is acknowledged (durable); the fetches for most are still in flight.
        first.signal(SIGKILL)
        _ = first.waitForExit()
        #expect(Set(setup.deliveredEventIDs()).count < events.count, "the kill should land mid-delivery")
        setup.fake.setResponseDelay(.zero)
        let second = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let all = Set(events.map { EventID.of(Array($0.utf8))! })
        #expect(waitUntil(seconds: 30) { Set(setup.deliveredEventIDs()).isSuperset(of: all) })
        // At least once: duplicates are possible and carry the same ids; nothing else appears.
        #expect(Set(setup.deliveredEventIDs()) == all)
        second.signal(SIGTERM)
        #expect(second.waitForExit() == 0)
    }

    @Test func failingResourceIsDeadLetteredWhileOthersFlowThenReplayed() throws {
        let setup = try Setup(tenants: ["t-bad", "t-good"])
        let bad = "30000000-0000-0000-0000-000000000001"
        setup.fake.addRecord(tenant: "t-bad", collection: "Invoices", id: bad)
        setup.fake.fail(id: bad, status: 500, times: 3)  // every attempt of the worker (maxAttempts 3)
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        func deadLetterGauge() throws -> String? {
            let scrape = try RawHTTPClient(port: daemon.port)
            let text = String(decoding: try scrape.exchange(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)).body, as: UTF8.self)
            return text.split(separator: "\n").first { $0.hasPrefix("xero_webhookd_dead_letters ") }.map(String.init)
        }
        #expect(try deadLetterGauge() == "xero_webhookd_dead_letters 0")
        #expect(try setup.post(client, [setup.event(tenant: "t-bad", category: "INVOICE", id: bad)]) == 200)
        var good: Set<String> = []
        for n in 0..<10 {
            let id = String(format: "40000000-0000-0000-0000-%012d", n)
            setup.fake.addRecord(tenant: "t-good", collection: "Invoices", id: id)
            #expect(try setup.post(client, [setup.event(tenant: "t-good", category: "INVOICE", id: id)]) == 200)
            good.insert("t-good/\(id)")
        }
        #expect(waitUntil(seconds: 30) { setup.deliveredResources().isSuperset(of: good) })
        #expect(waitUntil(seconds: 30) {
            ((try? Binary.run(["dead", "list", "--config", setup.config]).stdout) ?? "").contains("1 dead letter")
        })
        let list = try Binary.run(["dead", "list", "--config", setup.config])
        #expect(list.stdout.contains("attempts=3"))
        #expect(list.stdout.contains("500"))
        #expect(!setup.deliveredResources().contains("t-bad/\(bad)"))
        // The worker's letter counts at once (the scrape before it must not hide it), and one
        // the command line takes out of the store from another process stops counting at once.
        #expect(try deadLetterGauge() == "xero_webhookd_dead_letters 1")
        // The fake has recovered (it failed exactly three times): replay delivers it. An id
        // given twice is one letter, replayed once, and no error.
        let id = String(list.stdout.prefix { $0 != "\t" })
        let replay = try Binary.run(["dead", "replay", id, id, "--config", setup.config])
        #expect(replay.status == 0 && replay.stdout == "1 queued for replay\n" && replay.stderr.isEmpty, "\(replay)")
        #expect(try deadLetterGauge() == "xero_webhookd_dead_letters 0")
        #expect(waitUntil(seconds: 30) { setup.deliveredResources().contains("t-bad/\(bad)") })
        #expect(try Binary.run(["dead", "list", "--config", setup.config]).stdout.contains("0 dead letters"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    /// The daemon runs as one user (nobody here, a dynamic user under the unit) and an operator
    /// replays a dead letter as root. `dead/replay/` was created root-owned 0755, the daemon could
    /// not remove the replay file and queued the same event about ten times a second. Now the
    /// directory is handed to the store's owner and the event is queued and delivered once.
    @Test(.enabled(if: getuid() == 0, "needs root to run the daemon as another user"))
    func replayAsRootOfADaemonRunningAsAnotherUserQueuesTheEventOnce() throws {
        let setup = try Setup(tenants: ["t-bad"])
        let bad = "30000000-0000-0000-0000-000000000002"
        setup.fake.addRecord(tenant: "t-bad", collection: "Invoices", id: bad)
        setup.fake.fail(id: bad, status: 500, times: 3)
        let nobody: UInt32 = 65534
        #expect(try Binary.runTool("/bin/chown", ["-R", "\(nobody):\(nobody)", setup.dir.path]) == 0)
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment,
                                       launcher: "/usr/bin/setpriv", launcherArguments: ["--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups"])
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [setup.event(tenant: "t-bad", category: "INVOICE", id: bad)]) == 200)
        #expect(waitUntil(seconds: 30) {
            ((try? Binary.run(["dead", "list", "--config", setup.config]).stdout) ?? "").contains("1 dead letter")
        })
        let replay = try Binary.run(["dead", "replay", "--all", "--config", setup.config])
        #expect(replay.status == 0, "\(replay.stderr)")
        var info = stat()
        #expect(stat(setup.dir.file("state/dead/replay"), &info) == 0)
        #expect(info.st_uid == nobody, "dead/replay belongs to uid \(info.st_uid)")
        #expect(waitUntil(seconds: 30) { setup.deliveredResources().contains("t-bad/\(bad)") })
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("dead letter replayed") })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        let log = daemon.stderr
        #expect(log.components(separatedBy: "dead letter replayed").count == 2, "replayed more than once")
        #expect(!log.contains("replay failed"))
        #expect(try Binary.run(["dead", "list", "--config", setup.config]).stdout.contains("0 dead letters"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: setup.dir.file("state/dead/replay"))) ?? ["?"]).isEmpty)
    }
}

@Suite struct DemoTests {
    @Test func demoTurnsEventsIntoRecordsWithNoXeroAccount() throws {
        let dir = try TemporaryDirectory("xero-webhookd-demo")
        defer { dir.remove() }
        let result = try Binary.run(["demo", "--state-directory", dir.path, "--events", "40"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("demo: 40 events in 5 signed deliveries became"))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.file("records"))
        let lines = try files.flatMap { try String(contentsOfFile: dir.file("records/\($0)"), encoding: .utf8).split(separator: "\n") }
        #expect(!lines.isEmpty)
        for line in lines {
            let record = try JSONParser.parse(Array(line.utf8))
            #expect(record["notFound"]?.kind == .bool(false))
            #expect(record["resource"]?.isObject == true)
        }
        // Every announced change is covered by some record.
        let covered = lines.compactMap { try? JSONParser.parse(Array($0.utf8))["eventIds"]?.arrayValue?.count }.reduce(0, +)
        #expect(covered == 40)
    }
}

@Suite(.serialized) struct ConsumerPositionCrashTests {
    /// A crash while the worker stores its consumer position: after a restart every acknowledged
    /// event is still delivered (the position falls back, so some are delivered twice, never lost).
    @Test(arguments: [1, 3])
    func crashWhileWritingTheConsumerPositionLosesNothing(hit: Int) throws {
        let setup = try WorkerEndToEndTests.Setup(tenants: ["t-pos"])
        var events: [String] = []
        for n in 0..<30 {
            let id = String(format: "50000000-0000-0000-0000-%012d", n)
            setup.fake.addRecord(tenant: "t-pos", collection: "Invoices", id: id)
            events.append(setup.event(tenant: "t-pos", category: "INVOICE", id: id))
        }
        var environment = setup.environment
        environment["XERO_WEBHOOKD_FAILPOINTS"] = "writeConsumerPosition=crash@\(hit)"
        let first = try DaemonProcess(["serve", "--config", setup.config], environment: environment)
        let client = try RawHTTPClient(port: first.port)
        var acknowledged: [String] = []
        // One chunk at a time, each delivered before the next, so each moves the position once:
        // the fail point's hit-th position write kills the daemon.
        for chunk in stride(from: 0, to: events.count, by: 3) where first.process.isRunning {
            let batch = Array(events[chunk..<min(chunk + 3, events.count)])
            guard let status = try? setup.post(client, batch) else { break }  // it died meanwhile
            if status == 200 { acknowledged += batch }
            let ids = Set(batch.map { EventID.of(Array($0.utf8))! })
            _ = waitUntil(seconds: 10) { !first.process.isRunning || Set(setup.deliveredEventIDs()).isSuperset(of: ids) }
        }
        #expect(first.waitForExit() != nil, "the daemon should have crashed storing its position")
        let second = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let wanted = Set(acknowledged.map { EventID.of(Array($0.utf8))! })
        #expect(!wanted.isEmpty)
        #expect(waitUntil(seconds: 30) { Set(setup.deliveredEventIDs()).isSuperset(of: wanted) })
        second.signal(SIGTERM)
        let status = second.waitForExit()
        #expect(status == 0, "\(second.stderr)")
    }
}
