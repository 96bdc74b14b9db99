import ByteJSON
import EventRecord
import FakeXero
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SplitMix64: a small generator whose whole run follows from one seed, so a chaos run that
/// failed can be repeated exactly (`XERO_WEBHOOKD_CHAOS_SEED=<seed> swift test --filter Chaos`).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The whole pipeline as an operator runs it — the built daemon with its worker, the fake Xero,
/// the directory sink — plus what a supervisor does (start it again when it exits, and kill and
/// start it when `/healthz` keeps failing, as the unit's `Restart=` and `WatchdogSec=` do) and an
/// oracle of every event that got a 200.
final class ChaosRig: @unchecked Sendable {
    static let key = "chaos-webhook-key-2026"
    let tenants = ["chaos-tenant-a", "chaos-tenant-b", "chaos-tenant-c"]
    let seed: UInt64
    var random: SeededGenerator
    let fake = FakeXero()
    let dir: TemporaryDirectory
    /// A small tmpfs for the state directory when mounting is possible (root), so a full disk is real.
    let fileSystem: SmallFileSystem?
    let stateDirectory: String
    let out: String
    let config: String
    let configWithoutWorker: String
    let baseURL: String
    private(set) var daemon: DaemonProcess?
    private var client: RawHTTPClient?
    /// Restarts the supervisor made (exits and watchdog kills), since the rig started.
    private(set) var supervisorRestarts = 0

    private let lock = NSLock()
    private var nextEvent = 0
    private var acknowledgedIDs: [String] = []
    /// Resource ids in queue records that a fault damaged on purpose: the only ones allowed to be lost.
    var damaged: Set<String> = []

    var environment: [String: String] { ["PAN_SEC_XERO_WEBHOOK_KEY": ChaosRig.key] }

    init() throws {
        if let text = ProcessInfo.processInfo.environment["XERO_WEBHOOKD_CHAOS_SEED"], let value = UInt64(text) {
            seed = value
        } else {
            seed = UInt64.random(in: 1...UInt64(UInt32.max))
        }
        random = SeededGenerator(seed: seed)
        dir = try TemporaryDirectory("xero-webhookd-chaos")
        fileSystem = SmallFileSystem.available ? try SmallFileSystem(megabytes: 24) : nil
        stateDirectory = (fileSystem?.path ?? dir.path) + "/state"
        out = stateDirectory + "/records"
        baseURL = try fake.start()
        for tenant in tenants { fake.addTenant(tenant, name: "Org \(tenant)") }
        let token = fake.issueAccessToken(tenants: tenants, lifetime: 86_400)
        try writeFile(dir.file("token.json"), #"{"access_token":"\#(token)","expires_in":86400}"#)
        config = dir.file("config.json")
        configWithoutWorker = dir.file("config-without-worker.json")
        for (path, enabled) in [(config, true), (configWithoutWorker, false)] {
            try writeFile(path, #"""
            {"stateDirectory": "\#(stateDirectory)", "listen": {"port": 0},
             "queue": {"segmentBytes": 65536, "minFreeBytes": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "requestTimeoutMilliseconds": 1000,
                      "auth": {"mode": "accessToken", "accessTokenFile": "\#(dir.file("token.json"))"}},
             "worker": {"enabled": \#(enabled), "backoffBaseMilliseconds": 20, "backoffCapMilliseconds": 300,
                        "maxAttempts": 1000, "maxAgeSeconds": 86400},
             "sink": {"type": "directory", "directory": "\#(out)", "maxFileBytes": 4096}}
            """#)
        }
    }

    deinit {
        if let daemon, daemon.process.isRunning { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        fake.shutdown()
        fileSystem?.unmount()
        dir.remove()
    }

    // MARK: The daemon and its supervisor

    /// Starts the daemon (the running one must have exited), with the worker unless told otherwise.
    func start(worker: Bool = true, extraEnvironment: [String: String] = [:]) throws {
        client?.close()
        client = nil
        daemon = try DaemonProcess(["serve", "--config", worker ? config : configWithoutWorker],
                                   environment: environment.merging(extraEnvironment) { $1 })
    }

    /// Kills the daemon with `signal` and waits for it to be gone.
    func stop(_ signal: Int32 = SIGKILL) {
        guard let daemon else { return }
        client?.close()
        client = nil
        daemon.signal(signal)
        _ = daemon.waitForExit(seconds: 60)
    }

    var port: UInt16 { daemon?.port ?? 0 }
    var stderr: String { daemon?.stderr ?? "" }

    private var healthFailingSince: Date?

    /// What a supervisor does once per look: starts an exited daemon again; kills and starts one
    /// whose `/healthz` has failed for 5 s in a row (the watchdog stops being fed then).
    func supervise() throws {
        guard let daemon else { return }
        if !daemon.process.isRunning {
            print("chaos supervisor: the daemon exited (\(daemon.process.terminationReason == .uncaughtSignal ? "signal" : "status") "
                  + "\(daemon.process.terminationStatus)); its last lines:\n\(daemon.stderr.split(separator: "\n").suffix(8).joined(separator: "\n"))")
            supervisorRestarts += 1
            try start()
            return
        }
        if get("/healthz") == 200 {
            healthFailingSince = nil
        } else if let since = healthFailingSince {
            if Date().timeIntervalSince(since) > 5 {
                healthFailingSince = nil
                stop()
                supervisorRestarts += 1
                try start()
            }
        } else {
            healthFailingSince = Date()
        }
    }

    // MARK: Deliveries

    /// A new event id (a GUID, as Xero's resource ids are), with a record for it at the fake.
    func newEvent() -> (id: String, tenant: String, json: String) {
        lock.lock()
        let n = nextEvent
        nextEvent += 1
        lock.unlock()
        let id = String(format: "c4a05000-0000-4000-8000-%012d", n)
        let tenant = tenants[n % tenants.count]
        fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
        let json = #"{"resourceUrl":"\#(baseURL)/api.xro/2.0/Invoices/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-12-03T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
        return (id, tenant, json)
    }

    static func body(_ events: [String]) -> [UInt8] {
        Array(#"{"events":[\#(events.joined(separator: ","))],"firstEventSequence":1,"lastEventSequence":\#(events.count),"entropy":"CHAOS"}"#.utf8)
    }

    /// Posts one signed delivery of `count` new events on `client` and returns the status
    /// (nil when the connection failed); the events join the oracle when the answer is 200.
    func post(count: Int, on client: RawHTTPClient) -> Int? {
        let events = (0..<count).map { _ in newEvent() }
        let body = Self.body(events.map(\.json))
        let signature = WebhookSignature(current: ChaosRig.key).signature(for: body)
        guard let response = try? client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])) else {
            return nil
        }
        if response.status == 200 {
            lock.lock()
            acknowledgedIDs += events.map(\.id)
            lock.unlock()
        }
        return response.status
    }

    /// Posts on the rig's kept-alive connection (opened again after a restart).
    @discardableResult
    func post(count: Int = 1) -> Int? {
        if client == nil { client = try? RawHTTPClient(port: port, timeout: 10) }
        guard let client else { return nil }
        let status = post(count: count, on: client)
        if status == nil { client.close(); self.client = nil }
        return status
    }

    var acknowledged: [String] { lock.lock(); defer { lock.unlock() }; return acknowledgedIDs }

    /// The status of `GET path` on a new connection, or nil when it could not be asked.
    func get(_ path: String) -> Int? {
        guard let client = try? RawHTTPClient(port: port, timeout: 5) else { return nil }
        defer { client.close() }
        return try? client.exchange(Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)).status
    }

    // MARK: What came out

    /// Every resource id the directory sink has written, read as a consumer would (LF-split
    /// lines; an unterminated last piece is a write in progress).
    func deliveredIDs() -> Set<String> {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        var ids = Set<String>()
        for file in files where file.hasSuffix(".jsonl") {
            guard let data = FileManager.default.contents(atPath: out + "/" + file) else { continue }
            for line in Array(data).split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
                guard let record = try? JSONParser.parse(Array(line)) else {
                    Issue.record("\(file): a line that is not one JSON record: \(String(decoding: line.prefix(120), as: UTF8.self))")
                    continue
                }
                if let id = record["resourceId"]?.stringValue { ids.insert(id) }
            }
        }
        return ids
    }

    /// `pending: N` from `queue status`, or nil when the command failed.
    func pending() -> Int? {
        guard let status = try? Binary.run(["queue", "status", "--config", config]), status.status == 0,
              let line = status.stdout.split(separator: "\n").first(where: { $0.hasPrefix("pending:") }) else { return nil }
        return Int(line.dropFirst("pending:".count).trimmingCharacters(in: .whitespaces).prefix { $0.isNumber })
    }

    /// Acknowledged events that are neither delivered nor in a damaged record.
    func missing() -> [String] {
        let delivered = deliveredIDs()
        return acknowledged.filter { !delivered.contains($0) && !damaged.contains($0) }
    }
}
