import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The daemon out of file descriptors when its queue needs the next segment: deliveries get 503
/// while it lasts, then 200 again and /healthz ok, with no restart.
@Suite(.serialized) struct ResourceShortageEndToEndTests {
    /// About 40 KB of events: two deliveries do not fit in one 64 KiB segment.
    private static let eventsPerDelivery = 120

    private func post(_ client: RawHTTPClient, prefix: String) throws -> (status: Int, ids: [String]) {
        let ids = (0..<Self.eventsPerDelivery).map { "\(prefix)-\($0)" }
        let events = ids.map(CrashOracle.event).joined(separator: ",")
        let body = Array(#"{"events":[\#(events)],"firstEventSequence":1,"lastEventSequence":\#(ids.count),"entropy":"EMFILE"}"#.utf8)
        let signature = WebhookSignature(current: CrashOracle.key).signature(for: body)
        let response = try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)]))
        return (response.status, ids)
    }

    private func health(_ client: RawHTTPClient) throws -> (status: Int, body: String) {
        let response = try client.exchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    @Test func tooManyOpenFilesAtRolloverPassesWithoutRestart() throws {
        let dir = try TemporaryDirectory("xero-webhookd-emfile")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "queue": {"segmentBytes": 65536}}"#)
        // The first segment opens; the next two tries to open the second get EMFILE.
        let daemon = try DaemonProcess(["serve", "--config", config], environment: [
            "PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key, "XERO_WEBHOOKD_FAILPOINTS": "createSegment=emfile@2-3",
        ])
        let client = try RawHTTPClient(port: daemon.port)
        var acknowledged: [String] = []
        let first = try post(client, prefix: "first")
        #expect(first.status == 200)
        acknowledged += first.ids
        for attempt in 0..<2 {
            #expect(try post(client, prefix: "refused-\(attempt)").status == 503)
            // Refusing for want of descriptors is not a failed queue.
            let during = try health(client)
            #expect(during.status == 200, "\(during.body)")
        }
        let after = try post(client, prefix: "after")
        #expect(after.status == 200)
        acknowledged += after.ids
        let healed = try health(client)
        #expect(healed.status == 200)
        #expect(healed.body.contains(#""queue":"ok""#))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        let log = daemon.stderr
        #expect(log.components(separatedBy: "queue refusing events").count == 2, "one warning, not one per request")
        #expect(log.contains("Too many open files"))
        #expect(log.contains("queue accepting events again"))
        let dumped = try CrashOracle.dumpedIDs(config: config)
        #expect(dumped.status == 0, "\(dumped.stderr)")
        // Exactly what was acknowledged, across two segments.
        #expect(dumped.ids == acknowledged)
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir.file("state/queue")).filter { $0.hasPrefix("segment-") }
        #expect(segments.count == 2, "\(segments)")
    }

    /// The report's case with a real limit (`ulimit -n 64` then; 128 here, so the default reserve of
    /// 64 leaves room for some connections): one kept-alive delivery connection and 90 idle ones.
    /// The server refuses the idle connections it has no room for, so the delivery that needs a
    /// new segment still gets 200 and /healthz stays ok; once the idle ones are gone, deliveries
    /// go on, without a restart. (Before the reserve the rollover got EMFILE and, in an older
    /// version, the queue failed until a restart.)
    @Test func realDescriptorLimitKeepsTheQueueFedWhileIdleConnectionsPileUp() throws {
        let dir = try TemporaryDirectory("xero-webhookd-ulimit")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "queue": {"segmentBytes": 65536}}"#)
        let limit = 128
        // Soft and hard alike, so the daemon cannot raise its soft limit out of the way.
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key],
                                       launcher: "/bin/sh", launcherArguments: ["-c", #"ulimit -n \#(limit) && exec "$0" "$@""#])
        let client = try RawHTTPClient(port: daemon.port)
        var acknowledged: [String] = []
        let first = try post(client, prefix: "first")
        #expect(first.status == 200)
        acknowledged += first.ids

        var idle: [RawHTTPClient] = []
        for _ in 0..<90 { idle.append(try RawHTTPClient(port: daemon.port)) }
        // At most limit - reserve descriptor numbers can hold connections, so at least 26 of the
        // 90 are refused.
        let refused = { idle.filter(\.closedByPeerNow).count }
        #expect(waitUntil(seconds: 10) { refused() >= 26 }, "refused \(refused()) of 90")
        for round in 0..<2 {
            let during = try post(client, prefix: "during-\(round)")
            #expect(during.status == 200, "the reserve keeps descriptors for the queue's next segment")
            if during.status == 200 { acknowledged += during.ids }
        }
        #expect(try health(client).status == 200)
        #expect(daemon.openDescriptorTargets().count < limit - 16, "the reserve held")

        for connection in idle { connection.close() }
        idle.removeAll()
        #expect(waitUntil(seconds: 15) { daemon.openDescriptorTargets().count < limit / 2 })
        // Enough deliveries to need at least one more segment.
        for round in 0..<2 {
            let after = try post(client, prefix: "after-\(round)")
            #expect(after.status == 200)
            if after.status == 200 { acknowledged += after.ids }
        }
        let healed = try health(client)
        #expect(healed.status == 200)
        #expect(healed.body.contains(#""queue":"ok""#))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        let dumped = try CrashOracle.dumpedIDs(config: config)
        #expect(dumped.status == 0, "\(dumped.stderr)")
        #expect(dumped.ids == acknowledged)
    }

    /// Started with a low soft descriptor limit under a higher hard one (a shell's `ulimit -S -n`,
    /// or the 1024 most systems give), the daemon raises its soft limit to the hard one and logs
    /// both, so connections are not refused for a limit it could lift itself.
    @Test func raisesItsSoftDescriptorLimitToTheHardOneAndLogsBoth() throws {
        var hard = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &hard)
        guard hard.rlim_max > 300 else { return }  // nothing to raise to
        let dir = try TemporaryDirectory("xero-webhookd-nofile")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}}"#)
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key],
                                       launcher: "/bin/sh", launcherArguments: ["-c", #"ulimit -S -n 256 && exec "$0" "$@""#])
        let limits = try String(contentsOfFile: "/proc/\(daemon.pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        let hardText = hard.rlim_max == rlim_t.max ? "unlimited" : "\(hard.rlim_max)"
        #expect(fields[3] == Substring(hardText), "soft limit after start: \(line)")
        let log = daemon.stderr
        #expect(log.contains("descriptor limit"))
        #expect(log.contains("softAtStart=256"))
        #expect(log.contains("soft=\(hardText)") && log.contains("hard=\(hardText)"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }
}
