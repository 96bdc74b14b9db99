import DiskQueue
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// "An acknowledgement is a promise": crash the real daemon and check that every event that got
/// a 200 is still in the queue, nothing is corrupt, and the daemon accepts events again.
@Suite(.serialized) struct CrashTests {
    static var killCycles: Int {
        ProcessInfo.processInfo.environment["XERO_WEBHOOKD_KILL_CYCLES"].flatMap(Int.init) ?? 50
    }

    private func makeConfig(_ dir: TemporaryDirectory, segmentBytes: Int = 65536) throws -> String {
        let path = dir.file("config.json")
        try writeFile(path, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "queue": {"segmentBytes": \#(segmentBytes)}}"#)
        return path
    }

    private func checkInvariant(_ oracle: CrashOracle, config: String) throws {
        let dumped = try CrashOracle.dumpedIDs(config: config)
        #expect(dumped.status == 0, "queue dump failed: \(dumped.stderr)")
        let present = Set(dumped.ids)
        let missing = oracle.acknowledgedIDs.filter { !present.contains($0) }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.prefix(10))")
        #expect(dumped.sequences == dumped.sequences.sorted() && Set(dumped.sequences).count == dumped.sequences.count,
                "sequences must be strictly increasing")
    }

    @Test func killNineAtRandomMomentsLosesNoAcknowledgedEvent() throws {
        let dir = try TemporaryDirectory("xero-webhookd-kill")
        defer { dir.remove() }
        let config = try makeConfig(dir)
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key]
        let oracle = CrashOracle()
        var generator = SystemRandomNumberGenerator()
        for cycle in 0..<Self.killCycles {
            let daemon = try DaemonProcess(["serve", "--config", config], environment: environment)
            #expect(!daemon.stderr.contains("quarantined=segment"), "cycle \(cycle): recovery quarantined a segment")
            // A process crash leaves at most a torn tail, which is cut quietly, never damage.
            #expect(!daemon.stderr.contains("queue set aside damaged records"), "cycle \(cycle): recovery reported damage")
            let port = daemon.port
            let before = oracle.acknowledgedCount
            // The kill lands after a random number of acknowledgements in this cycle, while the
            // clients keep posting: some requests are mid-write, mid-sync or mid-answer.
            let target = before + Int.random(in: 1...60, using: &generator)
            let clients = Thread { oracle.hammer(port: port, clients: 4, maxRequests: 10_000) }
            clients.start()
            #expect(waitUntil(seconds: 30) { oracle.acknowledgedCount >= target }, "cycle \(cycle): no progress")
            daemon.signal(SIGKILL)
            #expect(daemon.waitForExit() != nil)
            #expect(waitUntil(seconds: 30) { clients.isFinished })
        }
        // One more start must recover and accept new events; then check the oracle.
        let daemon = try DaemonProcess(["serve", "--config", config], environment: environment)
        let before = oracle.acknowledgedCount
        oracle.hammer(port: daemon.port, clients: 2, maxRequests: 5)
        #expect(oracle.acknowledgedCount > before, "the daemon accepts events again after recovery")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        try checkInvariant(oracle, config: config)
        #expect(oracle.acknowledgedCount > Self.killCycles)
    }

    /// A crash at each named point of the write path, at a random occurrence.
    @Test(arguments: ["beforeWrite", "afterWriteBeforeSync", "afterSyncBeforeAck", "createSegment"])
    func crashAtEachFailPointKeepsTheInvariant(_ point: String) throws {
        let dir = try TemporaryDirectory("xero-webhookd-failpoint")
        defer { dir.remove() }
        // Small segments so that creating one happens often.
        let config = try makeConfig(dir, segmentBytes: 65536)
        let oracle = CrashOracle()
        for round in 0..<3 {
            // Segments roll every ~190 events, so a segment creation happens only a few times a round.
            let hit = point == "createSegment" ? Int.random(in: 2...4) : Int.random(in: 2...25)
            var environment = ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key]
            environment["XERO_WEBHOOKD_FAILPOINTS"] = "\(point)=crash@\(hit)"
            let daemon = try DaemonProcess(["serve", "--config", config], environment: environment)
            let port = daemon.port
            oracle.hammer(port: port, clients: 3, maxRequests: 400)
            // The clients stop when the daemon dies at the fail point.
            #expect(daemon.waitForExit() != nil, "\(point) round \(round): the daemon should have crashed at hit \(hit)")
            try checkInvariant(oracle, config: config)
        }
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key])
        let before = oracle.acknowledgedCount
        oracle.hammer(port: daemon.port, clients: 1, maxRequests: 3)
        #expect(oracle.acknowledgedCount > before, "the daemon accepts events again after recovery")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        try checkInvariant(oracle, config: config)
    }

    /// An I/O error at a write-path point: that batch gets 503, later requests get 503 (the queue
    /// stops acknowledging), /healthz says so, and a restart recovers a valid prefix.
    @Test(arguments: ["beforeWrite", "afterWriteBeforeSync"])
    func ioErrorStopsAcknowledgingUntilRestart(_ point: String) throws {
        let dir = try TemporaryDirectory("xero-webhookd-ioerror")
        defer { dir.remove() }
        let config = try makeConfig(dir)
        let oracle = CrashOracle()
        let daemon = try DaemonProcess(["serve", "--config", config],
                                       environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key, "XERO_WEBHOOKD_FAILPOINTS": "\(point)=error@3"])
        oracle.hammer(port: daemon.port, clients: 1, maxRequests: 10)
        #expect(oracle.acknowledgedCount == 1 + 2)  // requests 1 and 2 (1 and 2 events) before the 3rd write fails
        let client = try RawHTTPClient(port: daemon.port)
        let health = try client.exchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(health.status == 503)
        #expect(String(decoding: health.body, as: UTF8.self).contains("failed"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        try checkInvariant(oracle, config: config)
        let again = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key])
        let before = oracle.acknowledgedCount
        oracle.hammer(port: again.port, clients: 1, maxRequests: 2)
        #expect(oracle.acknowledgedCount > before)
        again.signal(SIGTERM)
        #expect(again.waitForExit() == 0)
        try checkInvariant(oracle, config: config)
    }
}
