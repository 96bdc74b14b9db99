import DaemonConfig
import Dispatch
import EventRecord
import FakeXero
import Foundation
import PostgresNIO
import PostgresSupport
import PostgresTestSupport
import Synchronization
import TestSupport
import Testing
import XeroAPI
#if canImport(Glibc)
import Glibc
#endif

/// The multi-node proof: three built daemons in cluster mode (state directories of their own,
/// one PostgreSQL for the token set, the rate budget and the records) behind nginx, round-robin;
/// the fake Xero in refresh-token mode, with Xero's limits. 1,000 events for 20 tenants go in
/// through nginx while one daemon is killed with SIGKILL and started again, and the access token
/// is revoked twice (every daemon then needs a new one at once). Every event that got a 200 must
/// reach the table; Xero must never have seen more than 5 calls at once or 60 a minute for a
/// tenant, a 429, two refreshes at once or an `invalid_grant`.
///
/// `CLUSTER_PROOF_REPORT=<file>` appends the figures (acknowledgements per second through
/// nginx, calls per event) to that file; `bench/cluster-proof.sh` runs it on a release build.
@Suite(.enabled(if: TestPostgres.runs && nginxPath != nil, "needs a PostgreSQL server and nginx (apt-get install nginx)"))
struct ClusterProofTests {
    static let key = "cluster-proof-key-0123456789"

    /// A loopback port free a moment ago (the daemons must come back on the same one).
    private static func freePort() -> UInt16 {
        let (fd, port) = loopbackListener()
        close(fd)
        return port
    }

    @Test func withTheDiskQueue() async throws {
        try await proof(postgresQueue: false)
    }

    /// With the postgres queue, the lanes the killed daemon held also move to the others once
    /// their 3 s lease ends.
    @Test func withThePostgresQueue() async throws {
        try await proof(postgresQueue: true)
    }

    private func proof(postgresQueue: Bool) async throws {
        let server = try TestPostgres.server()
        // A schema of its own: the queue's, the rate budget's and the token tables are shared
        // by name within one, and tests running beside this one must not take its lanes.
        let schema = TestPostgres.uniqueTable("proof")
        try await Self.sql(server.url(), "CREATE SCHEMA \(schema)")
        let (tokenTable, recordTable) = ("\(schema).xero_webhookd_tokens", "\(schema).xero_resources")
        let laneLease = 3000
        let dir = try TemporaryDirectory("xero-webhookd-cluster-proof")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        fake.registerClient(id: "proof-client", secret: "proof-secret")
        fake.setTokenDelay(.milliseconds(200))
        fake.setResponseDelay(.milliseconds(20))
        let tenants = (0..<20).map { String(format: "7c1e0000-0000-0000-0000-%012d", $0) }
        var invoices: [(tenant: String, id: String)] = []
        for (index, tenant) in tenants.enumerated() {
            fake.addTenant(tenant, name: "Proof Org \(index)")
            for number in 0..<50 {
                let id = String(format: "00000000-0000-%04d-0000-%012d", index, number)
                fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
                invoices.append((tenant, id))
            }
        }
        // What `authorize` leaves on the first node only.
        let refresh = fake.issueRefreshToken(clientId: "proof-client", tenants: tenants)
        try FileManager.default.createDirectory(atPath: dir.file("state-0"), withIntermediateDirectories: true)
        try TokenFile(stateDirectory: dir.file("state-0")).save(StoredTokenSet(refreshToken: refresh, accessToken: nil, expiresAt: nil,
                                                                               scopes: [], updatedAt: Date()))
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key, "PAN_SEC_XERO_CLIENT_ID": "proof-client",
                           "PAN_SEC_XERO_CLIENT_SECRET": "proof-secret"]
        let ports = (0..<3).map { _ in Self.freePort() }
        let configs = try (0..<3).map { node in
            let config = dir.file("config-\(node).json")
            try writeFile(config, #"""
            {"stateDirectory": "\#(dir.file("state-\(node)"))", "listen": {"host": "127.0.0.1", "port": \#(ports[node])},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "auth": {"mode": "refreshToken"},
                      "requestTimeoutMilliseconds": 2000},
             "worker": {"backoffBaseMilliseconds": 50, "backoffCapMilliseconds": 1000},
             "sink": {"type": "postgres", "postgresURL": "\#(server.url())", "table": "\#(recordTable)"},
             "queue": {"backend": "\#(postgresQueue ? "postgres" : "disk")", "laneLeaseMilliseconds": \#(laneLease)},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(tokenTable)"}}
            """#)
            return config
        }
        var daemons: [DaemonProcess] = []
        for config in configs { daemons.append(try await DaemonProcess.started(["serve", "--config", config], environment: environment)) }
        let balancer = try await offPool { try Nginx(directory: dir.file("nginx"), upstreams: ports) }
        defer { balancer.stop() }

        // 100 deliveries of 10 events, sent by 4 senders through nginx; the second daemon is
        // killed after the 40th answer and started again after the 60th; the token is revoked
        // after the 25th and the 75th.
        let deliveries = stride(from: 0, to: invoices.count, by: 10).map { Array(invoices[$0..<min($0 + 10, invoices.count)]) }
        let progress = Mutex((answered: 0, acknowledged: [String](), refused: [Int: Int]()))
        let restarted = DispatchSemaphore(value: 0), killed = DispatchSemaphore(value: 0)
        let milestones = AsyncStream<Int>.makeStream()
        let nextDelivery = Mutex(0)
        let started = ContinuousClock.now
        let group = DispatchGroup()
        for sender in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while true {
                    let index = nextDelivery.withLock { next -> Int? in
                        guard next < deliveries.count else { return nil }
                        defer { next += 1 }
                        return next
                    }
                    guard let index else { return }
                    let events = deliveries[index].map { tenant, id in
                        #"{"resourceUrl":"\#(baseURL)/api.xro/2.0/Invoices/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-12-04T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
                    }
                    let body = Array(#"{"events":[\#(events.joined(separator: ","))],"firstEventSequence":\#(index * 10 + 1),"lastEventSequence":\#(index * 10 + 10),"entropy":"PROOF\#(sender)"}"#.utf8)
                    let signature = WebhookSignature(current: Self.key).signature(for: body)
                    let status = (try? RawHTTPClient(port: balancer.port).exchange(
                        RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)], close: true)).status) ?? 0
                    let answered = progress.withLock { state -> Int in
                        state.answered += 1
                        if status == 200 { state.acknowledged += deliveries[index].map(\.id) } else { state.refused[status, default: 0] += 1 }
                        return state.answered
                    }
                    if answered == 25 || answered == 75 { fake.revokeAccessTokens() }
                    // Xero slows down before the kill, so every daemon's passes last and the one
                    // to kill holds lanes (acknowledgements and passes are otherwise so quick that
                    // its lanes are free most of the time).
                    if answered == 30 { fake.setResponseDelay(.milliseconds(400)) }
                    if answered == 40 {
                        milestones.continuation.yield(40)
                        killed.wait()
                    }
                    if answered == 60 {
                        milestones.continuation.yield(60)
                        restarted.wait()
                    }
                }
            }
        }
        group.notify(queue: .global()) { milestones.continuation.finish() }
        var moved: (lanes: Int, seconds: Double) = (0, 0)
        for await milestone in milestones.stream {
            if milestone == 40 {
                defer { killed.signal() }
                let victim = daemons[1].pid
                // With the postgres queue, killed while it holds lanes.
                var held: [String] = []
                let until = ContinuousClock.now + .seconds(20)
                while postgresQueue && held.isEmpty && ContinuousClock.now < until {
                    held = try await Self.lanes(server.url(), schema: schema, heldBy: victim)
                }
                daemons[1].signal(SIGKILL)
                _ = await daemons[1].exited()
                let killedAt = ContinuousClock.now
                fake.setResponseDelay(.milliseconds(20))
                if postgresQueue {
                    #expect(!held.isEmpty, "the killed daemon held no lane")
                    moved.lanes = held.count
                    // Its lanes are taken by the others (or emptied by them) once the lease ends.
                    while !held.isEmpty && ContinuousClock.now - killedAt < .seconds(60) {
                        held = try await Self.lanes(server.url(), schema: schema, heldBy: victim).filter(held.contains)
                        if !held.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
                    }
                    let took = ContinuousClock.now - killedAt
                    moved.seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
                    #expect(held.isEmpty, "lanes still held by the killed daemon after 60 s: \(held)")
                    #expect(took < .milliseconds(laneLease) + .seconds(10), "the killed daemon's lanes moved after \(took) (lease \(laneLease) ms)")
                }
            } else {
                // The killed daemon comes back on its port with its state directory (its queue).
                defer { restarted.signal() }
                daemons[1] = try await DaemonProcess.started(["serve", "--config", configs[1]], environment: environment)
            }
        }
        let sendSeconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds)
        let (acknowledged, refused) = progress.withLock { ($0.acknowledged, $0.refused) }

        let wanted = Set(acknowledged)
        var stored: Set<String> = []
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline && !wanted.isSubset(of: stored) {
            stored = try await Self.storedIDs(server.url(), table: recordTable)
            if !wanted.isSubset(of: stored) { try await Task.sleep(for: .milliseconds(200)) }
        }
        let drained = ContinuousClock.now - started
        let stats = fake.stats
        let missing = wanted.subtracting(stored)
        #expect(acknowledged.count >= 900, "only \(acknowledged.count) of 1000 events acknowledged; refused: \(refused)")
        #expect(missing.isEmpty, "\(missing.count) acknowledged events never reached the table, e.g. \(missing.prefix(5))")
        #expect(stats.maxInFlightByTenant.values.allSatisfy { $0 <= 5 }, "\(stats.maxInFlightByTenant)")
        #expect(stats.maxPerMinuteByTenant.values.allSatisfy { $0 <= 60 }, "\(stats.maxPerMinuteByTenant)")
        #expect(stats.tooManyRequests == 0, "\(stats.tooManyRequestsByProblem)")
        #expect(stats.maxTokenRequestsInFlight == 1, "refreshes overlapped")
        #expect(stats.invalidGrants == 0)
        if postgresQueue {
            let left = try await Self.sql(server.url(), "SELECT (SELECT count(*) FROM \(schema).xero_webhookd_events) + (SELECT count(*) FROM \(schema).xero_webhookd_dead_events)")
            #expect(left == 0, "\(left.map(String.init) ?? "?") events left in the queue or dead-lettered")
        }
        if ProcessInfo.processInfo.environment["CLUSTER_PROOF_REPORT"] != nil {
            let line = String(format: "%@ queue, 3 daemons behind nginx: %d of 1000 events acknowledged in %.2f s (%.0f events/s, %.1f deliveries/s); "
                + "all stored after %.1f s; the killed daemon's %d lanes moved after %.2f s; %d calls to Xero (%.3f per event); refresh grants %d; refused: %@\n",
                postgresQueue ? "postgres" : "disk", acknowledged.count, sendSeconds, Double(acknowledged.count) / sendSeconds, Double(acknowledged.count) / 10 / sendSeconds,
                Double(drained.components.seconds), moved.lanes, moved.seconds, stats.totalCalls, Double(stats.totalCalls) / Double(max(1, stored.count)),
                stats.tokenGrants["refresh_token"] ?? 0, "\(refused)")
            try Self.report(line)
        }
        for daemon in daemons {
            daemon.signal(SIGTERM)
            #expect(await daemon.exited() == 0)
            #expect(!daemon.stderr.contains(refresh))
        }
    }

    /// Acknowledgements per second through nginx to three daemons, with each queue (the worker
    /// off: the receive path alone), by wrk with bench/signed-post.lua for 10 s over 32
    /// connections. Only with CLUSTER_PROOF_REPORT (bench/cluster-proof.sh), where it writes them.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["CLUSTER_PROOF_REPORT"] != nil && wrkPath != nil))
    func acknowledgementThroughput() async throws {
        let server = try TestPostgres.server()
        let bench = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("bench")
        let scripts = [("one tenant", bench.appendingPathComponent("signed-post.lua").path),
                       ("20 tenants in turn", bench.appendingPathComponent("signed-post-tenants.lua").path)]
        for postgresQueue in [false, true] {
            let schema = TestPostgres.uniqueTable("tput")
            try await Self.sql(server.url(), "CREATE SCHEMA \(schema)")
            let dir = try TemporaryDirectory("xero-webhookd-cluster-tput")
            defer { dir.remove() }
            let ports = (0..<3).map { _ in Self.freePort() }
            var daemons: [DaemonProcess] = []
            for node in 0..<3 {
                let config = dir.file("config-\(node).json")
                try writeFile(config, #"""
                {"stateDirectory": "\#(dir.file("state-\(node)"))", "listen": {"host": "127.0.0.1", "port": \#(ports[node])},
                 "worker": {"enabled": false}, "queue": {"backend": "\#(postgresQueue ? "postgres" : "disk")"},
                 "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
                """#)
                daemons.append(try await DaemonProcess.started(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "ExampleSigningKey"]))
            }
            let balancer = try await offPool { try Nginx(directory: dir.file("nginx"), upstreams: ports) }
            var acknowledged = 0
            for (tenants, script) in scripts {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: wrkPath!)
                process.arguments = ["-t2", "-c32", "-d10s", "-s", script, "http://127.0.0.1:\(balancer.port)/webhooks/xero"]
                let output = Pipe()
                process.standardOutput = output
                process.standardError = FileHandle.nullDevice
                try withProcessSpawnLock { try process.run() }
                let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                let figures = text.split(separator: "\n").filter { ["requests", "rps", "p50_ms", "p99_ms", "errors"].contains($0.split(separator: " ").first.map(String.init) ?? "") }
                #expect(figures.count == 5, "\(text)")
                func figure(_ name: String) -> Int? {
                    figures.first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ").last ?? "") }
                }
                #expect(figure("errors") == 0, "answers other than 200 under load: \(text)")
                if postgresQueue, let requests = figure("requests") {
                    // Every delivery answered 200 is in the table (and those wrk cut off at the end may be too).
                    acknowledged += requests
                    let stored = try await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events") ?? 0
                    #expect(stored >= Int64(acknowledged), "\(acknowledged) deliveries answered 200, \(stored) events in the table")
                }
                let line = "\(postgresQueue ? "postgres" : "disk") queue, 3 daemons behind nginx, wrk -t2 -c32 -d10s, one event per delivery, \(tenants): "
                    + figures.joined(separator: ", ") + "\n"
                try Self.report(line)
            }
            balancer.stop()
            for daemon in daemons {
                daemon.signal(SIGTERM)
                _ = await daemon.exited()
            }
        }
    }

    private static func report(_ line: String) throws {
        guard let path = ProcessInfo.processInfo.environment["CLUSTER_PROOF_REPORT"] else { return }
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(line.utf8))
    }

    /// Tenants whose lane the daemon with process id `pid` holds now (postgres queue).
    private static func lanes(_ url: String, schema: String, heldBy pid: Int32) async throws -> [String] {
        let endpoint = try PostgresEndpoint.parse(url)
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var tenants: [String] = []
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT tenant FROM \(schema).xero_webhookd_lanes WHERE owner LIKE '\(pid)-%' AND lease_until > now()"))
        for try await tenant in rows.decode(String.self) { tenants.append(tenant) }
        return tenants
    }

    /// Runs `statement`; returns the first column of its first row when it is a number.
    @discardableResult
    private static func sql(_ url: String, _ statement: String) async throws -> Int64? {
        let endpoint = try PostgresEndpoint.parse(url)
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var value: Int64?
        do {
            for try await row in try await client.query(PostgresQuery(unsafeSQL: statement)) { value = try? row.decode(Int64.self) }
        } catch {
            throw PostgresStatementFailed(description: "\(statement): \(PostgresErrorText.describe(error))")
        }
        return value
    }

    private static func storedIDs(_ url: String, table: String) async throws -> Set<String> {
        let endpoint = try PostgresEndpoint.parse(url)
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var ids: Set<String> = []
        do {
            for try await id in try await client.query(PostgresQuery(unsafeSQL: "SELECT resource_id FROM \(table) WHERE NOT not_found")).decode(String.self) {
                ids.insert(id)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P01" {
            return []  // the sink has not made its table yet
        }
        return ids
    }
}

private let wrkPath = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) }

private struct PostgresStatementFailed: Error, CustomStringConvertible {
    let description: String
}
