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

/// Cluster mode as the operator meets it: what the operator sees with the postgres queue (/readyz,
/// /metrics), and how a daemon with the postgres queue stops. Built daemons against the shared
/// throwaway server, each test in a schema of its own.
@Suite(.serialized, .enabled(if: TestPostgres.runs, "needs a PostgreSQL server"))
struct ClusterOperatorTests {
    static let key = "operator-key-0123456789"

    // MARK: Helpers

    static func sql(_ url: String, _ statement: String) async throws -> Int64? {
        let client = PostgresClient(configuration: try PostgresEndpoint.parse(url).clientConfiguration(name: "operator"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var value: Int64?
        for try await row in try await client.query(PostgresQuery(unsafeSQL: statement)) { value = try? row.decode(Int64.self) }
        return value
    }

    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    private static func get(_ port: UInt16, _ path: String) -> (status: Int, body: String) {
        guard let response = try? RawHTTPClient(port: port, timeout: 10).exchange(
            Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)) else { return (0, "") }
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    static func post(_ port: UInt16, tenant: String, resource: String, baseURL: String = "https://api.xero.com") -> Int {
        let event = #"{"resourceUrl":"\#(baseURL)/api.xro/2.0/Invoices/\#(resource)","resourceId":"\#(resource)","eventDateUtc":"2026-12-04T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
        let body = Array(#"{"events":[\#(event)],"firstEventSequence":1,"lastEventSequence":1,"entropy":"OPERATOR"}"#.utf8)
        let signature = WebhookSignature(current: key).signature(for: body)
        return (try? RawHTTPClient(port: port, timeout: 20).exchange(
            RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)], close: true)).status) ?? 0
    }

    /// POSTs until it is answered 200 (as Xero retries), at most `tries` times; returns the answers.
    static func postUntilAccepted(_ port: UInt16, tenant: String, resource: String, baseURL: String = "https://api.xero.com",
                                          tries: Int = 4) -> [Int] {
        var answers: [Int] = []
        for _ in 0..<tries {
            answers.append(post(port, tenant: tenant, resource: resource, baseURL: baseURL))
            if answers.last == 200 { break }
        }
        return answers
    }

    /// The value of an unlabelled sample in a Prometheus exposition.
    private static func sample(_ exposition: String, _ name: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    // MARK: 1. /metrics with the postgres queue

    /// With `queue.backend: postgres` every accepted event waits in `xero_webhookd_events` and
    /// every dead letter is in `xero_webhookd_dead_events`. README's operator guide tells the
    /// operator to alert on `xero_webhookd_queue_depth` growing and on
    /// `xero_webhookd_dead_letters > 0` (deploy/prometheus-alerts.yml). With the postgres queue
    /// they must report the shared tables, not the daemon's empty local disk queue.
    @Test func metricsReportThePostgresQueueBacklogAndDeadLetters() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("revfin")
        _ = try await Self.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("operator-metrics")
        defer { dir.remove() }
        // The worker is off: accepted events stay queued, as when every worker is stuck.
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "worker": {"enabled": false},
             "queue": {"backend": "postgres"},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        var statuses: [Int] = []
        for n in 0..<5 {
            statuses.append(Self.postUntilAccepted(daemon.port, tenant: "aaaaaaaa-0000-0000-0000-0000000000f1", resource: String(format: "bbbbbbbb-0000-0000-0000-%012d", n)).last ?? 0)
        }
        #expect(statuses == [200, 200, 200, 200, 200], "\(daemon.stderr.split(separator: "\n").filter { $0.contains("refusing") }.map { String($0.suffix(300)) })")
        let waiting = try await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events") ?? -1
        // One of them fails for good (as a worker's settle would bury it).
        _ = try await Self.sql(server.url(), """
            WITH gone AS (DELETE FROM \(schema).xero_webhookd_events WHERE id = (SELECT min(id) FROM \(schema).xero_webhookd_events)
                          RETURNING id, tenant, record, received_at)
            INSERT INTO \(schema).xero_webhookd_dead_events (id, tenant, record, received_at, attempts, reason)
            SELECT id, tenant, record, received_at, 10, 'sink: boom' FROM gone
            """)
        let queued = try await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events") ?? -1
        let dead = try await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_dead_events") ?? -1
        let metrics = Self.get(daemon.port, "/metrics")
        let depth = Self.sample(metrics.body, "xero_webhookd_queue_depth")
        let deadLetters = Self.sample(metrics.body, "xero_webhookd_dead_letters")
        #expect(waiting >= 5 && queued == waiting - 1 && dead == 1)
        #expect(metrics.status == 200)
        #expect(depth == Double(queued),
                "/metrics says xero_webhookd_queue_depth \(depth.map { "\($0)" } ?? "absent") while \(queued) events wait in the postgres queue")
        #expect(deadLetters == Double(dead),
                "/metrics says xero_webhookd_dead_letters \(deadLetters.map { "\($0)" } ?? "absent") while \(dead) events are in xero_webhookd_dead_events")
    }

    // MARK: 2. /readyz while the shared queue refuses every delivery

    /// The postgres queue's database stops accepting the daemon (its role can no longer log in,
    /// its sessions ended: a failover, a wrong password after a rotation). Every delivery is
    /// answered 503. /readyz must say so (503 with a reason), so the load balancer and the
    /// operator's readiness alert see the daemon cannot take events; it must not answer 200.
    @Test func readyzIsNotReadyWhileThePostgresQueueRefusesEveryDelivery() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("revfin")
        let role = TestPostgres.uniqueTable("revfinr")
        _ = try await Self.sql(server.url(), "CREATE SCHEMA \(schema)")
        _ = try await Self.sql(server.url(), "CREATE ROLE \(role) LOGIN SUPERUSER")
        let url = server.url().replacingOccurrences(of: "\(ThrowawayPostgres.user)@", with: "\(role)@")
        let dir = try TemporaryDirectory("operator-readyz")
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "worker": {"mode": "events"}, "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres", "laneLeaseMilliseconds": 2000},
             "cluster": {"postgresURL": "\#(url)", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        let tenant = "aaaaaaaa-0000-0000-0000-0000000000f2"
        #expect(Self.postUntilAccepted(daemon.port, tenant: tenant, resource: "bbbbbbbb-0000-0000-0000-000000000001").last == 200)
        #expect(Self.get(daemon.port, "/readyz").status == 200)

        _ = try await Self.sql(server.url(), "ALTER ROLE \(role) NOLOGIN")
        _ = try await Self.sql(server.url(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '\(role)'")
        defer { Task { _ = try? await Self.sql(server.url(), "ALTER ROLE \(role) LOGIN") } }
        var during: [Int] = []
        for n in 2...4 { during.append(Self.post(daemon.port, tenant: tenant, resource: String(format: "bbbbbbbb-0000-0000-0000-%012d", n))) }
        // Give it the time a readiness probe would (several periods), polling.
        var ready = (status: 0, body: "")
        let notReady = await Self.eventually(10) {
            ready = Self.get(daemon.port, "/readyz")
            return ready.status == 503
        }
        let healthz = Self.get(daemon.port, "/healthz")
        #expect(during == [503, 503, 503], "deliveries during the outage: \(during)")
        #expect(notReady, "/readyz answered \(ready.status) \(ready.body) while every delivery was refused (\(during)); /healthz \(healthz.status)")
        _ = try await Self.sql(server.url(), "ALTER ROLE \(role) LOGIN")
    }

    // MARK: 3. /readyz and /metrics when a credential is paused, with the postgres queue

    /// Xero refuses the only access token (401): every fetch of every tenant is paused until the
    /// operator provides a working one. README: "A paused credential makes it 503" and
    /// `xero_webhookd_worker_paused == 1`. With the postgres queue's worker the same must hold.
    @Test func aPausedCredentialIsShownWithThePostgresQueue() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("revfin")
        _ = try await Self.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("operator-paused")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        let tenant = "7c1e0000-0000-0000-0000-0000000000f3"
        fake.addTenant(tenant, name: "Paused Org")
        fake.addRecord(tenant: tenant, collection: "Invoices", id: "00000000-0000-0000-0000-0000000000f3")
        // A token Xero does not know (revoked).
        let token = fake.issueAccessToken(tenants: [tenant])
        fake.revokeAccessTokens()
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "auth": {"mode": "accessToken"}, "requestTimeoutMilliseconds": 2000},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres", "laneLeaseMilliseconds": 2000},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")],
                                       environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key, "PAN_SEC_XERO_ACCESS_TOKEN": token])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        #expect(Self.postUntilAccepted(daemon.port, tenant: tenant, resource: "00000000-0000-0000-0000-0000000000f3", baseURL: baseURL).last == 200)
        let refused = await Self.eventually(20) { fake.stats.unauthorized > 0 }
        #expect(refused, "the fake never saw the refused token")
        var ready = (status: 0, body: "")
        let notReady = await Self.eventually(10) {
            ready = Self.get(daemon.port, "/readyz")
            return ready.status == 503
        }
        let metrics = Self.get(daemon.port, "/metrics")
        let paused = Self.sample(metrics.body, "xero_webhookd_worker_paused")
        let pausedLines = daemon.stderr.split(separator: "\n").filter { $0.contains("401") || $0.contains("refused") || $0.contains("waits") }.prefix(3).joined(separator: " | ")
        #expect(notReady, "/readyz answered \(ready.status) \(ready.body) with the only credential refused (Xero 401s: \(fake.stats.unauthorized)); log: \(pausedLines)")
        #expect(paused == 1, "xero_webhookd_worker_paused is \(paused.map { "\($0)" } ?? "absent") with the only credential refused")
    }

    // MARK: 4. SIGTERM while a delivery waits for the shared rate budget

    /// A tenant has used its minute (here `perMinutePerTenant: 1`, as if the other daemons had
    /// spent Xero's 60). The next event's fetch waits inside the shared budget for up to a minute.
    /// SIGTERM must still stop the daemon promptly (README: it lets deliveries in flight finish,
    /// the rest stays queued) and let the lane go, not hold the stop until the minute has passed
    /// (systemd's stop timeout then SIGKILLs it).
    @Test func sigtermWhileAFetchWaitsForTheSharedRateBudgetStopsPromptly() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("revfin")
        _ = try await Self.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("operator-sigterm")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        let tenant = "7c1e0000-0000-0000-0000-0000000000f4"
        fake.addTenant(tenant, name: "Busy Org")
        for n in 1...2 { fake.addRecord(tenant: tenant, collection: "Invoices", id: String(format: "00000000-0000-0000-0000-%012d", n)) }
        let token = fake.issueAccessToken(tenants: [tenant], lifetime: 3600)
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "auth": {"mode": "accessToken"}, "requestTimeoutMilliseconds": 2000,
                      "limits": {"perMinutePerTenant": 1}},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres"},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")],
                                       environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key, "PAN_SEC_XERO_ACCESS_TOKEN": token])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        #expect(Self.postUntilAccepted(daemon.port, tenant: tenant, resource: "00000000-0000-0000-0000-000000000001", baseURL: baseURL).last == 200)
        #expect(await Self.eventually(20) { (try? await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events")) == 0 },
                "the first event was never delivered")
        let callsBefore = fake.stats.totalCalls
        #expect(Self.postUntilAccepted(daemon.port, tenant: tenant, resource: "00000000-0000-0000-0000-000000000002", baseURL: baseURL).last == 200)
        // The second event's lane is held (its fetch waits for the minute).
        let held = await Self.eventually(10) {
            (try? await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_lanes WHERE owner IS NOT NULL AND lease_until > now()")) == 1
        }
        #expect(held)
        try? await Task.sleep(for: .seconds(1))
        let started = ContinuousClock.now
        daemon.signal(SIGTERM)
        let status = await daemon.exited(seconds: 90)
        let took = ContinuousClock.now - started
        let stillHeld = try await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_lanes WHERE owner IS NOT NULL AND lease_until > now()") ?? -1
        let queued = try await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events") ?? -1
        #expect(status == 0)
        #expect(took < .seconds(10), "SIGTERM took \(took) to stop a daemon whose only work was waiting for the shared rate budget (Xero calls during the wait: \(fake.stats.totalCalls - callsBefore))")
        #expect(stillHeld == 0, "\(stillHeld) lane(s) still held after the daemon exited")
        #expect(queued <= 1)
    }

    // MARK: 5. The cluster URL's password in output

    /// A cluster URL with a password in it (an operator's inline config): neither check-config
    /// nor the daemon's log lines while the database cannot be reached may print the password.
    /// The unreachable database must give 503s, not 200s.
    @Test func theClusterPasswordNeverReachesOutput() async throws {
        let dir = try TemporaryDirectory("operator-secret")
        defer { dir.remove() }
        let password = "Sup3rSecretPw"
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "worker": {"mode": "events"}, "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres", "laneLeaseMilliseconds": 2000},
             "cluster": {"postgresURL": "postgres://xero:\#(password)@127.0.0.1:1/accounts"}}
            """#)
        let check = try Binary.run(["check-config", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json"), "--log-level", "debug"], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        let status = Self.post(daemon.port, tenant: "aaaaaaaa-0000-0000-0000-0000000000f5", resource: "bbbbbbbb-0000-0000-0000-000000000001")
        try? await Task.sleep(for: .seconds(3))
        #expect(status == 503)
        #expect(!(check.stdout + check.stderr).contains(password), "check-config printed the password: \(check.stdout) \(check.stderr)")
        #expect(!daemon.stderr.contains(password), "the daemon logged the password: \(daemon.stderr.split(separator: "\n").filter { $0.contains(password) }.prefix(2).joined(separator: " | "))")
    }

    // MARK: 6. A session killed mid-admit

    /// The cluster database stops answering (a partition: TCP connects, nothing comes back).
    /// Prometheus scrapes /metrics with a 10 s timeout by default; the scrape is what tells the
    /// operator something is wrong, so it must answer promptly, not wait on the shared rate
    /// budget's statement limit (10 s) at every scrape.
    @Test func metricsAnswerPromptlyWhileTheClusterDatabaseHangs() async throws {
        let (hole, holePort) = loopbackListener(backlog: 64)  // accepts connections (backlog), never answers
        defer { close(hole) }
        let dir = try TemporaryDirectory("operator-hang")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        let token = fake.issueAccessToken(tenants: ["7c1e0000-0000-0000-0000-0000000000f7"], lifetime: 3600)
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "auth": {"mode": "accessToken"}, "requestTimeoutMilliseconds": 2000},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "cluster": {"postgresURL": "postgres://xero@127.0.0.1:\#(holePort)/accounts?sslmode=disable"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")],
                                       environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key, "PAN_SEC_XERO_ACCESS_TOKEN": token])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        var took: [Double] = []
        var statuses: [Int] = []
        for _ in 0..<3 {
            let started = Date()
            statuses.append(Self.get(daemon.port, "/metrics").status)
            took.append(Date().timeIntervalSince(started))
        }
        let readyStarted = Date()
        let ready = Self.get(daemon.port, "/readyz")
        let readyTook = Date().timeIntervalSince(readyStarted)
        #expect(statuses.allSatisfy { $0 == 200 }, "/metrics statuses \(statuses)")
        #expect(took.allSatisfy { $0 < 2 }, "/metrics took \(took.map { String(format: "%.1f s", $0) }) per scrape with the cluster database hung (/readyz: \(ready.status) in \(String(format: "%.1f s", readyTook)))")
    }

    // MARK: 7b. queue status and dead list with the postgres queue

    /// README: "SIGHUP re-reads the config (and checks every worker pause at once)". Xero
    /// refused the token in `accessTokenFile` (401); the operator writes a working one and sends
    /// SIGHUP. With the postgres queue the waiting event must go promptly, not after the lane's
    /// 30 s pause recheck.
    @Test func sighupWithAWorkingTokenResumesThePostgresQueuePromptly() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("revfin")
        _ = try await Self.sql(server.url(), "CREATE SCHEMA \(schema)")
        let dir = try TemporaryDirectory("operator-sighup")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        let tenant = "7c1e0000-0000-0000-0000-0000000000f9"
        let invoice = "00000000-0000-0000-0000-0000000000f9"
        fake.addTenant(tenant, name: "Sighup Org")
        fake.addRecord(tenant: tenant, collection: "Invoices", id: invoice)
        let bad = fake.issueAccessToken(tenants: [tenant])
        fake.revokeAccessTokens()
        try writeFile(dir.file("token"), bad)
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)",
                      "auth": {"mode": "accessToken", "accessTokenFile": "\#(dir.file("token"))"}, "requestTimeoutMilliseconds": 2000},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres", "laneLeaseMilliseconds": 2000},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key])
        defer { daemon.signal(SIGKILL); _ = daemon.waitForExit() }
        #expect(Self.postUntilAccepted(daemon.port, tenant: tenant, resource: invoice, baseURL: baseURL).last == 200)
        #expect(await Self.eventually(20) { fake.stats.unauthorized > 0 }, "the fake never saw the refused token")
        try? await Task.sleep(for: .seconds(1))
        try writeFile(dir.file("token"), fake.issueAccessToken(tenants: [tenant], lifetime: 3600))
        let reloaded = ContinuousClock.now
        daemon.signal(SIGHUP)
        let delivered = await Self.eventually(40) {
            (try? await Self.sql(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events")) == 0
        }
        let took = ContinuousClock.now - reloaded
        #expect(delivered, "the event was never delivered after the new token and SIGHUP")
        #expect(took < .seconds(5), "the event waited \(took) after a working token and SIGHUP (the lane's pause recheck, not the reload, let it go)")
    }

    // MARK: 7d. A fresh deployment: three daemons' first deliveries at once

    /// Three built daemons (postgres queue, events mode, a directory sink each) behind nginx get
    /// one event per POST from two senders while PostgreSQL is stopped (immediate: a crash) and
    /// started again 5 s later. Every event answered 200 must reach a sink; no answer may take
    /// Xero's 5 s; deliveries must be accepted again after the restart; the queue must drain.
    @Test(.enabled(if: nginxPath != nil, "needs nginx"))
    func postgresRestartedUnderThreeDaemonsLosesNothing() async throws {
        let server = try await ThrowawayPostgres.startOffPool()
        defer { server.stopInBackground() }
        let dir = try TemporaryDirectory("operator-restart")
        defer { dir.remove() }
        var daemons: [DaemonProcess] = []
        for node in 0..<3 {
            try writeFile(dir.file("config-\(node).json"), #"""
                {"stateDirectory": "\#(dir.file("state-\(node)"))", "listen": {"host": "127.0.0.1", "port": 0},
                 "worker": {"mode": "events", "backoffBaseMilliseconds": 50, "backoffCapMilliseconds": 500},
                 "sink": {"type": "directory", "directory": "\#(dir.file("out-\(node)"))"},
                 "queue": {"backend": "postgres", "laneLeaseMilliseconds": 3000},
                 "cluster": {"postgresURL": "\#(server.url())"}}
                """#)
            daemons.append(try await DaemonProcess.started(["serve", "--config", dir.file("config-\(node).json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key]))
        }
        defer { for daemon in daemons { daemon.signal(SIGKILL); _ = daemon.waitForExit() } }
        let balancer = try Nginx(directory: dir.file("nginx"), upstreams: daemons.map(\.port))
        defer { balancer.stop() }
        let state = Mutex((phase: 0, next: 0, acknowledged: [String](), statuses: [Int: [Int: Int]](), slowest: 0.0, stop: false))
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while true {
                    let (n, phase, stop) = state.withLock { s -> (Int, Int, Bool) in s.next += 1; return (s.next, s.phase, s.stop) }
                    if stop { return }
                    let tenant = String(format: "aaaaaaaa-0000-0000-0000-%012d", n % 7)
                    let resource = String(format: "cccccccc-0000-0000-0000-%012d", n)
                    let started = Date()
                    let status = Self.post(balancer.port, tenant: tenant, resource: resource)
                    let took = Date().timeIntervalSince(started)
                    state.withLock { s in
                        if status == 200 { s.acknowledged.append(resource) }
                        s.statuses[phase, default: [:]][status, default: 0] += 1
                        s.slowest = max(s.slowest, took)
                    }
                    Thread.sleep(forTimeInterval: 0.01)
                }
            }
        }
        #expect(await Self.eventually(30) { state.withLock { $0.acknowledged.count } >= 100 })
        state.withLock { $0.phase = 1 }
        try await server.stopImmediatelyOffPool()
        try await Task.sleep(for: .seconds(5))
        try await server.startAgainOffPool()
        state.withLock { $0.phase = 2 }
        let atRestart = state.withLock { $0.acknowledged.count }
        let recovered = await Self.eventually(30) { state.withLock { $0.acknowledged.count } >= atRestart + 100 }
        state.withLock { $0.stop = true }
        _ = await Task.detached { group.wait() }.value
        let acknowledged = Set(state.withLock { $0.acknowledged })
        func delivered() -> Set<String> {
            var ids: Set<String> = []
            for node in 0..<3 {
                let out = dir.file("out-\(node)")
                for file in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] {
                    let text = (try? String(contentsOfFile: out + "/" + file, encoding: .utf8)) ?? ""
                    for part in text.components(separatedBy: #""resourceId":""#).dropFirst() { ids.insert(String(part.prefix { $0 != "\"" })) }
                }
            }
            return ids
        }
        let all = await Self.eventually(60) { acknowledged.isSubset(of: delivered()) }
        let missing = acknowledged.subtracting(delivered())
        let left = try await Self.sql(server.url(), "SELECT count(*) FROM xero_webhookd_events") ?? -1
        let (statuses, slowest) = state.withLock { ($0.statuses, $0.slowest) }
        #expect(recovered, "deliveries not accepted again after the restart: \(statuses)")
        #expect(all && missing.isEmpty, "\(missing.count) of \(acknowledged.count) acknowledged events never delivered: \(missing.sorted().prefix(5)); statuses by phase \(statuses)")
        #expect(slowest < 5, "an answer took \(slowest) s; statuses by phase \(statuses)")
        #expect(left == 0, "\(left) events left in the queue")
        print("restart: acknowledged \(acknowledged.count), delivered \(delivered().count), left \(left), slowest \(slowest) s, statuses by phase \(statuses)")
        let logs = daemons.map { $0.stderr.split(separator: "\n").filter { $0.contains("warning") || $0.contains("error") }.count }
        #expect(logs.allSatisfy { $0 < 30 }, "warning/error lines per daemon over one restart: \(logs)")
    }
}
