import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs mounted for one test, so "disk full" is real. Needs root (CI runs as root);
/// the tests are disabled with a reason where mounting is not possible.
final class SmallFileSystem {
    let path: String
    private let parent: TemporaryDirectory

    static let available: Bool = {
        guard getuid() == 0, let probe = try? SmallFileSystem(megabytes: 1) else { return false }
        probe.unmount()
        return true
    }()

    init(megabytes: Int) throws {
        parent = try TemporaryDirectory("xero-webhookd-smallfs")
        path = parent.file("mnt")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let result = try Binary.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path])
        guard result == 0 else { parent.remove(); throw RawHTTPClient.ClientError(description: "mount failed") }
    }

    var freeBytes: Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return -1 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// Fills the file system until `leave` bytes are free, with a file that `release()` deletes.
    func fill(leaving leave: Int) throws {
        let size = max(0, freeBytes - leave)
        try Data(count: size).write(to: URL(fileURLWithPath: path + "/filler"))
    }

    func release() throws { try FileManager.default.removeItem(atPath: path + "/filler") }

    func unmount() {
        _ = try? Binary.runTool("/bin/umount", ["-l", path])
        parent.remove()
    }
}

@Suite(.serialized, .enabled(if: SmallFileSystem.available, "needs root to mount a small tmpfs"))
struct DiskFullTests {
    let key = "disk-full-key-0123456789"

    private func start(_ fs: SmallFileSystem, queue: String) throws -> (DaemonProcess, String) {
        let config = fs.path + "/../config.json"
        try writeFile(config, #"{"stateDirectory": "\#(fs.path)/state", "listen": {"port": 0}, "queue": \#(queue)}"#)
        return (try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": key]), config)
    }

    private func post(_ client: RawHTTPClient, id: String) throws -> Int {
        let body = Array(#"{"events":[\#(CrashOracle.event(id))],"firstEventSequence":1,"lastEventSequence":1,"entropy":"FULL"}"#.utf8)
        let signature = WebhookSignature(current: key).signature(for: body)
        return try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status
    }

    @Test func fullDiskAnswers503AndAcceptsAgainWhenSpaceReturns() throws {
        let fs = try SmallFileSystem(megabytes: 16)
        defer { fs.unmount() }
        let (daemon, config) = try start(fs, queue: #"{"minFreeBytes": 0, "segmentBytes": 1048576}"#)
        let client = try RawHTTPClient(port: daemon.port)
        // Fill first: space the queue has already prepared (zero-filled ahead of the writes)
        // would otherwise take thousands of events before the disk runs out.
        try fs.fill(leaving: 64 * 1024)
        #expect(try post(client, id: "first") == 200)
        var acknowledged = ["first"], refused: [String] = []
        for n in 0..<2_000 where refused.count < 3 {
            let id = "fill-\(n)"
            switch try post(client, id: id) {
            case 200: acknowledged.append(id)
            case 503: refused.append(id)
            case let other: Issue.record("unexpected status \(other)")
            }
        }
        #expect(refused.count == 3, "the disk never filled up")
        // A full disk is not a failed queue: health stays up and no restart is needed.
        let health = try client.exchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(health.status == 200)
        try fs.release()
        #expect(try post(client, id: "after") == 200)
        acknowledged.append("after")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.components(separatedBy: "queue refusing events").count == 2, "one warning, not one per request")
        let dumped = try CrashOracle.dumpedIDs(config: config)
        #expect(dumped.status == 0)
        // Exactly what was acknowledged: nothing refused is half-written or replayed.
        #expect(dumped.ids == acknowledged)
    }

    @Test func freeSpaceReserveRefusesBeforeTheDiskIsFull() throws {
        let fs = try SmallFileSystem(megabytes: 16)
        defer { fs.unmount() }
        let reserve = 4 << 20
        let (daemon, config) = try start(fs, queue: #"{"minFreeBytes": \#(reserve), "segmentBytes": 1048576}"#)
        let client = try RawHTTPClient(port: daemon.port)
        try fs.fill(leaving: reserve + 256 * 1024)
        var acknowledged: [String] = []
        var refusedAt: Int?
        for n in 0..<5_000 {
            let status = try post(client, id: "r-\(n)")
            if status == 200 { acknowledged.append("r-\(n)") } else { refusedAt = status; break }
        }
        #expect(refusedAt == 503)
        #expect(fs.freeBytes >= reserve - 64 * 1024, "503 came before the reserve was used up")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(try CrashOracle.dumpedIDs(config: config).ids == acknowledged)
    }
}

@Suite(.serialized) struct QueueBoundTests {
    @Test func boundedQueueAnswers503AndWarnsOnce() throws {
        let dir = try TemporaryDirectory("xero-webhookd-bound")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "queue": {"maxBytes": 1048576, "segmentBytes": 262144}}"#)
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key])
        let oracle = CrashOracle()
        oracle.hammer(port: daemon.port, clients: 1, maxRequests: 3_000)
        let client = try RawHTTPClient(port: daemon.port)
        let body = Array(#"{"events":[\#(CrashOracle.event("over"))],"firstEventSequence":1,"lastEventSequence":1,"entropy":"B"}"#.utf8)
        let signature = WebhookSignature(current: CrashOracle.key).signature(for: body)
        let warnings = { daemon.stderr.components(separatedBy: "queue refusing events").count - 1 }
        let before = warnings()
        for _ in 0..<20 {
            #expect(try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status == 503)
        }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        // Twenty refusals in a row add at most the one line that says refusing started (the
        // hammer's last request may have fitted); a line per request would add twenty.
        #expect(warnings() >= 1)
        #expect(warnings() - before <= 1, "one warning when refusing starts, not one per request")
        let dumped = try CrashOracle.dumpedIDs(config: config)
        #expect(Set(dumped.ids) == Set(oracle.acknowledgedIDs))
        #expect(oracle.acknowledgedCount > 1000)
    }
}
