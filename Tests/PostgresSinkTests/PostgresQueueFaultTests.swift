import DaemonConfig
import DiskQueue
import EventRecord
import Foundation
import PostgresNIO
import PostgresQueue
import PostgresSupport
import PostgresTestSupport
import ResourceFetch
import Synchronization
import TestSupport
import Testing
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// The postgres queue under faults: in-process workers on the shared throwaway server, each test
/// in a schema of its own.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server"), .serialized)
struct PostgresQueueFaultTests {
    static let tenant = "aaaaaaaa-0000-0000-0000-000000000001"

    // MARK: A wait without Retry-After

    /// A fetch that must wait and says for how long no one knows (a token being renewed
    /// elsewhere, a rate budget that could not be read): the lane waits one backoff step, as the
    /// disk queue's worker does, and the event is delivered then. It waited the whole
    /// `worker.waitCap` (60 s) before, with every other event of the tenant behind it.
    @Test func aWaitWithoutRetryAfterHoldsTheLaneOneBackoffStep() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("waitq")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(server.url()), schema: schema, sessionName: "wait")
        let calls = Mutex(0)
        let fetcher = ClosureFetcher { requests in
            let call = calls.withLock { $0 += 1; return $0 }
            if call == 1 { return Dictionary(uniqueKeysWithValues: requests.map { ($0.key, FetchOutcome.waiting("token being renewed elsewhere", retryAfter: nil)) }) }
            return found(requests, 1)
        }
        let recorder = RecordingSink()
        var configuration = WorkerConfiguration()
        configuration.backoff = Backoff(base: .milliseconds(200), cap: .seconds(1))
        configuration.waitCap = .seconds(600)
        let worker = PostgresQueueWorker(queue: queue, fetcher: fetcher, sink: recorder.named("W"), configuration: configuration, lease: .seconds(5))
        guard case .success = await append(queue, [payload(Self.tenant, "bbbbbbbb-0000-0000-0000-00000000000a", tag: "w1")]) else {
            Issue.record("not stored")
            return
        }
        worker.start()
        // Delivered after the backoff's first step (base 200 ms, jittered); with the cap (600 s
        // here) it would not be within the minute.
        #expect(await eventually(60) { recorder.deliveries.count == 1 })
        await worker.stop()
        await queue.close()
    }

    // MARK: Claim 3: a daemon that lost its lane keeps delivering

    /// Daemon A claims the lane and is fetching (slow Xero) when it loses the database for
    /// longer than the lease (a network partition, a failover): its renewals fail, the lease
    /// ends, daemon B takes the lane, sees a newer event for the same resource, fetches the
    /// newer state (v2) and delivers it. When A then gets its (older, v1) answer, it finds its
    /// lease lost and delivers nothing: the resource's last delivery is v2.
    @Test func aDaemonThatLostItsLaneDeliversNothing() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        let role = TestPostgres.uniqueTable("faulta")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        try await DB.run(server.url(), "CREATE ROLE \(role) LOGIN SUPERUSER")
        let urlA = server.url().replacingOccurrences(of: "\(ThrowawayPostgres.user)@", with: "\(role)@")
        let qa = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(urlA), schema: schema, sessionName: "fault-a")
        let qb = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(server.url()), schema: schema, sessionName: "fault-b")
        let resource = "bbbbbbbb-0000-0000-0000-000000000001"
        let xeroVersion = Mutex(1), gate = Mutex(false), aFetches = Mutex(0)
        let fetcherA = ClosureFetcher { requests in
            let version = xeroVersion.withLock { $0 }  // Xero's answer, still in transit
            aFetches.withLock { $0 += 1 }
            while !gate.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(20)) }
            return found(requests, version)
        }
        let fetcherB = ClosureFetcher { requests in found(requests, xeroVersion.withLock { $0 }) }
        let recorder = RecordingSink()
        var configuration = WorkerConfiguration()
        configuration.backoff = Backoff(base: .milliseconds(50), cap: .milliseconds(200))
        let a = PostgresQueueWorker(queue: qa, fetcher: fetcherA, sink: recorder.named("A"), configuration: configuration, lease: .seconds(2))
        let b = PostgresQueueWorker(queue: qb, fetcher: fetcherB, sink: recorder.named("B"), configuration: configuration, lease: .seconds(2))

        _ = try await append(qb, [payload(Self.tenant, resource, tag: "e1")]).get()
        a.start()
        #expect(await eventually(20) { aFetches.withLock { $0 } >= 1 }, "A never fetched")
        // A loses the database (no new session, its sessions ended) while its fetch runs.
        try await DB.run(server.url(), "ALTER ROLE \(role) NOLOGIN")
        try await DB.run(server.url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)'")
        xeroVersion.withLock { $0 = 2 }
        _ = try await append(qb, [payload(Self.tenant, resource, tag: "e2")]).get()
        b.start()
        let bDelivered = await eventually(30) { recorder.deliveries.contains { $0.by == "B" } }
        #expect(bDelivered, "B never took the lane")
        // A's network comes back; its fetch answers.
        try await DB.run(server.url(), "ALTER ROLE \(role) LOGIN")
        gate.withLock { $0 = true }
        _ = await eventually(10) { recorder.deliveries.contains { $0.by == "A" } }
        try? await Task.sleep(for: .milliseconds(500))
        let log = recorder.deliveries
        let versions = log.map(\.resource)
        #expect(versions.last == #"{"v":2}"#, "the resource's last delivery is stale: \(log.map { "\($0.by) \($0.tags) \($0.resource ?? "nil")" })")
        #expect(!log.contains { $0.by == "A" }, "A delivered after its lease ended and B had taken the lane: \(log.map { "\($0.by) \($0.tags) \($0.resource ?? "nil")" })")
        await a.stop()
        await b.stop()
        await qa.close()
        await qb.close()
    }

    // MARK: Claim 3: id order is not commit order

    /// Two receivers append events for the same resource; the first one's INSERT takes its id
    /// first but commits later (a slow commit, simulated with a trigger that sleeps). The worker
    /// reads the lane by id; the second append waits for the first's lane lock, so the events
    /// reach the sink in the order received.
    @Test func anEventCommittedLateIsStillDeliveredInOrder() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(server.url()), schema: schema, sessionName: "fault-order")
        let resource = "bbbbbbbb-0000-0000-0000-000000000002"
        _ = try await append(queue, [payload(Self.tenant, resource, tag: "warm")]).get()
        try await DB.run(server.url(), """
            CREATE FUNCTION \(schema).slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_sleep(2); RETURN NEW; END $$
            """)
        try await DB.run(server.url(), """
            CREATE TRIGGER slow BEFORE INSERT ON \(schema).xero_webhookd_events FOR EACH ROW
            WHEN (position('SLOWCOMMIT'::bytea in NEW.record) > 0) EXECUTE FUNCTION \(schema).slow_insert()
            """)
        let recorder = RecordingSink()
        let worker = PostgresQueueWorker(queue: queue, fetcher: ClosureFetcher { requests in
            Dictionary(uniqueKeysWithValues: requests.map { ($0.key, FetchOutcome.eventsOnly) })
        }, sink: recorder.named("W"), configuration: WorkerConfiguration(), lease: .seconds(5))
        worker.start()
        #expect(await eventually(20) { recorder.deliveries.flatMap(\.tags).contains("warm") })
        let first = Task { try await append(queue, [payload(Self.tenant, resource, tag: "SLOWCOMMIT-1")]).get() }
        #expect(try await eventually(5) { try await DB.count(server.url(), "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'") > 0 })
        _ = try await append(queue, [payload(Self.tenant, resource, tag: "e2")]).get()
        _ = try await first.value
        _ = await eventually(20) { Set(recorder.deliveries.flatMap(\.tags)).isSuperset(of: ["SLOWCOMMIT-1", "e2"]) }
        let order = recorder.deliveries.flatMap(\.tags).filter { $0 != "warm" }
        #expect(order == ["SLOWCOMMIT-1", "e2"], "events of one resource delivered out of the order received: \(order)")
        await worker.stop()
        await queue.close()
    }

    // MARK: Claim 1: the receiver's answer while the database is unreachable

    /// Xero wants an answer well under 5 s. With the database unreachable (sessions hung, or no
    /// new session accepted) the append must fail fast enough for a 503 inside that time, and
    /// succeed again once the database is back.
    @Test func appendFailsWithinXerosTimeoutWhenTheDatabaseIsUnreachable() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        let role = TestPostgres.uniqueTable("faulth")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        try await DB.run(server.url(), "CREATE ROLE \(role) LOGIN SUPERUSER")
        let url = server.url().replacingOccurrences(of: "\(ThrowawayPostgres.user)@", with: "\(role)@")
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(url), schema: schema, sessionName: "fault-hung")
        _ = try await append(queue, [payload(Self.tenant, "cccccccc-0000-0000-0000-000000000001", tag: "warm")]).get()

        // 1. Its sessions hang (SIGSTOP: a partition, a stuck server).
        let pids = try await DB.strings(server.url(), "SELECT pid::text FROM pg_stat_activity WHERE usename = '\(role)'").compactMap { Int32($0) }
        for pid in pids { kill(pid, SIGSTOP) }
        var started = ContinuousClock.now
        let hung = await append(queue, [payload(Self.tenant, "cccccccc-0000-0000-0000-000000000001", tag: "during-hang")])
        let hungTook = ContinuousClock.now - started
        for pid in pids { kill(pid, SIGCONT) }

        // 2. No new session accepted, the old ones ended (server down / restarting).
        try await DB.run(server.url(), "ALTER ROLE \(role) NOLOGIN")
        try await DB.run(server.url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)'")
        started = ContinuousClock.now
        let refused = await append(queue, [payload(Self.tenant, "cccccccc-0000-0000-0000-000000000001", tag: "during-down")])
        let refusedTook = ContinuousClock.now - started

        // 3. Back.
        try await DB.run(server.url(), "ALTER ROLE \(role) LOGIN")
        started = ContinuousClock.now
        var recovered = false
        while !recovered && ContinuousClock.now - started < .seconds(30) {
            if case .success = await append(queue, [payload(Self.tenant, "cccccccc-0000-0000-0000-000000000001", tag: "after")]) { recovered = true }
        }
        #expect(ContinuousClock.now - started < .seconds(30), "recovery took \(ContinuousClock.now - started)")
        try? await Task.sleep(for: .seconds(1))
        let stored = try await DB.strings(server.url(), "SELECT encode(record, 'escape') FROM \(schema).xero_webhookd_events")
        // An append refused with 503 may still have been stored (a duplicate, never a loss).
        _ = stored
        #expect(hungTook < .seconds(5), "with hung sessions the append answered after \(hungTook): past Xero's 5 s")
        #expect(refusedTook < .seconds(5), "with the database refusing sessions the append answered after \(refusedTook): past Xero's 5 s")
        if case .success = hung { Issue.record("a hung database gave a success") }
        if case .success = refused { Issue.record("a refusing database gave a success") }
        #expect(recovered, "no append succeeded within 30 s of the database's return")
        await queue.close()
    }

    // MARK: Claim 4: poison records, retries and dead letters

    /// An undecodable row and an event without tenantId go to the dead table with a reason, a
    /// resource whose sink fails is tried worker.maxAttempts times then dead-lettered, and the
    /// lane's good events still arrive, in order.
    @Test func poisonAndFailingEventsAreDeadLetteredWithoutStallingTheLane() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(server.url()), schema: schema, sessionName: "fault-poison")
        let (good, bad) = ("bbbbbbbb-0000-0000-0000-000000000010", "bbbbbbbb-0000-0000-0000-000000000011")
        _ = try await append(queue, [payload(Self.tenant, good, tag: "good1"), payload(Self.tenant, bad, tag: "bad1")]).get()
        try await DB.run(server.url(), "INSERT INTO \(schema).xero_webhookd_events (tenant, record) VALUES ('\(Self.tenant)', '\\x00ff7b'::bytea)")
        _ = try await append(queue, [payload(Self.tenant, good, tag: "good2")]).get()
        let noTenant = QueuedEvent(receivedAt: "2026-12-04T01:15:40.000Z", eventSequence: nil,
                                   event: Array(#"{"resourceId":"x","eventCategory":"INVOICE","eventType":"UPDATE"}"#.utf8)).encoded()
        _ = try await append(queue, [noTenant]).get()
        let recorder = RecordingSink(failing: { $0.key.resourceID == bad })
        var configuration = WorkerConfiguration()
        configuration.maxAttempts = 3
        configuration.backoff = Backoff(base: .milliseconds(50), cap: .milliseconds(200))
        let worker = PostgresQueueWorker(queue: queue, fetcher: ClosureFetcher { found($0, 1) }, sink: recorder.named("W"),
                                         configuration: configuration, lease: .seconds(5))
        worker.start()
        let drained = try await eventually(30) { try await DB.count(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events") == 0 }
        await worker.stop()
        let dead = try await DB.strings(server.url(), "SELECT tenant || '|' || attempts || '|' || reason FROM \(schema).xero_webhookd_dead_events ORDER BY id")
        let goodTags = recorder.deliveries.filter { $0.key.resourceID == good }.flatMap(\.tags)
        let badCalls = recorder.attempts.withLock { $0[bad, default: 0] }
        #expect(drained)
        #expect(goodTags.contains("good1") && goodTags.contains("good2") && goodTags.firstIndex(of: "good1")! < goodTags.lastIndex(of: "good2")!)
        #expect(dead.count == 3, "\(dead)")
        #expect(dead.contains { $0.contains("not a queued event") }, "\(dead)")
        #expect(dead.contains { $0.hasPrefix("|") && $0.contains("no tenantId") }, "\(dead)")
        #expect(dead.contains { $0.hasPrefix("\(Self.tenant)|3|sink: boom") }, "\(dead)")
        #expect(badCalls == 3)
        await queue.close()
    }

    // MARK: Claim 2: the session killed during settle

    /// The settling transaction's session is terminated by the server in the middle of its
    /// DELETE: nothing is lost, the lane's events are delivered again once the lease ends.
    @Test func settleKilledMidTransactionLosesNothing() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(server.url()), schema: schema, sessionName: "fault-settle")
        let tags = (0..<5).map { "s\($0)" }
        _ = try await append(queue, tags.enumerated().map { payload(Self.tenant, String(format: "dddddddd-0000-0000-0000-%012d", $0.offset), tag: $0.element) }).get()
        try await DB.run(server.url(), """
            CREATE FUNCTION \(schema).slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_sleep(0.3); RETURN OLD; END $$
            """)
        try await DB.run(server.url(), "CREATE TRIGGER slow BEFORE DELETE ON \(schema).xero_webhookd_events FOR EACH ROW EXECUTE FUNCTION \(schema).slow_delete()")
        let recorder = RecordingSink()
        let worker = PostgresQueueWorker(queue: queue, fetcher: ClosureFetcher { found($0, 1) }, sink: recorder.named("W"),
                                         configuration: WorkerConfiguration(), lease: .seconds(2))
        worker.start()
        let killed = try await eventually(20) {
            try await DB.count(server.url(), """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE application_name = 'fault-settle' AND state = 'active' AND query LIKE 'DELETE FROM%'
                """) > 0
        }
        try await DB.run(server.url(), "DROP TRIGGER slow ON \(schema).xero_webhookd_events")
        let drained = try await eventually(20) { try await DB.count(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events") == 0 }
        await worker.stop()
        let delivered = recorder.deliveries.flatMap(\.tags)
        #expect(killed)
        #expect(drained)
        #expect(Set(delivered) == Set(tags))
        await queue.close()
    }

    // MARK: Claim 5: stop settles or lets go

    /// `stop()` during a slow fetch returns after the pass has settled, and the lane is let go
    /// at once (not held until its 30 s lease ends).
    @Test func stopDuringAFetchSettlesAndReleasesTheLane() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(server.url()), schema: schema, sessionName: "fault-stop")
        _ = try await append(queue, [payload(Self.tenant, "eeeeeeee-0000-0000-0000-000000000001", tag: "x1")]).get()
        let fetches = Mutex(0)
        let recorder = RecordingSink()
        let worker = PostgresQueueWorker(queue: queue, fetcher: ClosureFetcher { requests in
            fetches.withLock { $0 += 1 }
            try? await Task.sleep(for: .milliseconds(1500))
            return found(requests, 1)
        }, sink: recorder.named("W"), configuration: WorkerConfiguration(), lease: .seconds(30))
        worker.start()
        #expect(await eventually(20) { fetches.withLock { $0 } > 0 })
        _ = try await append(queue, [payload(Self.tenant, "eeeeeeee-0000-0000-0000-000000000002", tag: "x2")]).get()
        await worker.stop()
        let held = try await DB.count(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_lanes WHERE owner IS NOT NULL AND lease_until > now()")
        _ = try await DB.count(server.url(), "SELECT count(*) FROM \(schema).xero_webhookd_events")
        #expect(held == 0, "the stopped worker still holds \(held) lane(s)")
        #expect(recorder.deliveries.flatMap(\.tags).contains("x1"))
        await queue.close()
    }

    // MARK: Claim 6: busy tenants hold every lane

    /// Tenants whose events keep arriving hold every lane a daemon may hold (`maxLanes`, 2 here):
    /// a lane is let go after each pass while lanes are full, so a quiet tenant's single event
    /// is delivered while the busy ones go on.
    @Test func busyTenantsDoNotStarveAQuietOne() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse(server.url()), schema: schema, sessionName: "fault-starve")
        let busy = ["bbbb0000-0000-0000-0000-000000000001", "bbbb0000-0000-0000-0000-000000000002"]
        let quiet = "cccc0000-0000-0000-0000-000000000003"
        for tenant in busy { _ = try await append(queue, [payload(tenant, "ffffffff-0000-0000-0000-000000000000", tag: "first")]).get() }
        let recorder = RecordingSink()
        let worker = PostgresQueueWorker(queue: queue, fetcher: ClosureFetcher { requests in
            try? await Task.sleep(for: .milliseconds(150))  // a slow Xero
            return found(requests, 1)
        }, sink: recorder.named("W"), configuration: WorkerConfiguration(), lease: .seconds(5), maxLanes: 2)
        worker.start()
        let feeding = Mutex(true)
        let feeder = Task {
            var n = 0
            while feeding.withLock({ $0 }) {
                n += 1
                for tenant in busy { _ = await append(queue, [payload(tenant, String(format: "ffffffff-0000-0000-0000-%012d", n % 50), tag: "b\(n)")]) }
                try? await Task.sleep(for: .milliseconds(40))
            }
        }
        #expect(await eventually(10) { recorder.deliveries.count >= 2 })
        _ = try await append(queue, [payload(quiet, "ffffffff-0000-0000-0000-000000000099", tag: "quiet")]).get()
        let appended = ContinuousClock.now
        let served = await eventually(10) { recorder.deliveries.contains { $0.key.tenantID == quiet } }
        let waited = ContinuousClock.now - appended
        feeding.withLock { $0 = false }
        _ = await feeder.value
        _ = await eventually(20) { recorder.deliveries.contains { $0.key.tenantID == quiet } }
        _ = appended
        #expect(served, "a quiet tenant's event waited \(waited) while two busy tenants held both lanes")
        await worker.stop()
        await queue.close()
    }

    // MARK: Claim 7: config

    @Test func postgresBackendWithoutClusterIsRefused() throws {
        let dir = try TemporaryDirectory("fault-config")
        defer { dir.remove() }
        let path = dir.file("config.json")
        try writeFile(path, #"{"stateDirectory": "\#(dir.path)", "queue": {"backend": "postgres"}}"#)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: path, environment: [:]) }
        do { _ = try ConfigLoader.load(path: path, environment: [:]) } catch { #expect(error.key == "queue.backend") }
        try writeFile(path, #"{"stateDirectory": "\#(dir.path)", "queue": {"backend": "postgres", "laneLeaseMilliseconds": 1999}, "cluster": {"postgresURL": "postgres://u@127.0.0.1:1/db"}}"#)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: path, environment: [:]) }
        try writeFile(path, #"{"stateDirectory": "\#(dir.path)", "queue": {"backend": "Postgres"}, "cluster": {"postgresURL": "postgres://u@127.0.0.1:1/db"}}"#)
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: path, environment: [:]) }
    }

    // MARK: Claim 1 end to end: a built daemon while its database goes away

    /// A built daemon (postgres queue, events mode, directory sink) gets one event per POST
    /// while its database refuses it for 12 s. Every 200'd event must reach the sink, the 503s
    /// must come inside Xero's 5 s, and the outage must not flood the log.
    @Test func aBuiltDaemonThroughADatabaseOutageAnswersInTimeAndLosesNothing() async throws {
        let server = try TestPostgres.server()
        let schema = TestPostgres.uniqueTable("faultq")
        let role = TestPostgres.uniqueTable("faultd")
        try await DB.run(server.url(), "CREATE SCHEMA \(schema)")
        try await DB.run(server.url(), "CREATE ROLE \(role) LOGIN SUPERUSER")
        let url = server.url().replacingOccurrences(of: "\(ThrowawayPostgres.user)@", with: "\(role)@")
        let dir = try TemporaryDirectory("fault-outage")
        defer { dir.remove() }
        let key = "outage-key-0123456789"
        try writeFile(dir.file("config.json"), #"""
            {"stateDirectory": "\#(dir.file("state"))", "listen": {"host": "127.0.0.1", "port": 0},
             "worker": {"mode": "events", "backoffBaseMilliseconds": 50, "backoffCapMilliseconds": 500},
             "sink": {"type": "directory", "directory": "\#(dir.file("out"))"},
             "queue": {"backend": "postgres", "laneLeaseMilliseconds": 2000},
             "cluster": {"postgresURL": "\#(url)", "tokenTable": "\#(schema).xero_webhookd_tokens"}}
            """#)
        let daemon = try await DaemonProcess.started(["serve", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": key])
        let port = daemon.port
        let state = Mutex((phase: 0, next: 0, acknowledged: [String](), statuses: [Int: Int](), slowest: [Int: Double](), stop: false))
        let sender = Thread {
            let signer = WebhookSignature(current: key)
            while true {
                let (id, phase, stop) = state.withLock { s -> (String, Int, Bool) in s.next += 1; return ("fault-\(s.next)", s.phase, s.stop) }
                if stop { return }
                let event = #"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-12-04T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"aaaaaaaa-0000-0000-0000-00000000000d","tenantType":"ORGANISATION"}"#
                let body = Array(#"{"events":[\#(event)],"firstEventSequence":1,"lastEventSequence":1,"entropy":"REV"}"#.utf8)
                let started = Date()
                let status = (try? RawHTTPClient(port: port, timeout: 20).exchange(
                    RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signer.signature(for: body))], close: true)).status) ?? 0
                let took = Date().timeIntervalSince(started)
                state.withLock { s in
                    if status == 200 { s.acknowledged.append(id) }
                    s.statuses[status, default: 0] += 1
                    s.slowest[phase] = max(s.slowest[phase] ?? 0, took)
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        sender.start()
        #expect(await eventually(30) { state.withLock { $0.acknowledged.count } >= 30 })
        let linesBefore = daemon.stderr.components(separatedBy: "\n").count
        state.withLock { $0.phase = 1 }
        try await DB.run(server.url(), "ALTER ROLE \(role) NOLOGIN")
        try await DB.run(server.url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)'")
        try await Task.sleep(for: .seconds(12))
        try await DB.run(server.url(), "ALTER ROLE \(role) LOGIN")
        #expect(daemon.stderr.components(separatedBy: "\n").count - linesBefore < 20, "the outage flooded the log")
        state.withLock { $0.phase = 2 }
        let ackedAtRecovery = state.withLock { $0.acknowledged.count }
        #expect(await eventually(40) { state.withLock { $0.acknowledged.count } >= ackedAtRecovery + 30 }, "no recovery")
        state.withLock { $0.stop = true }
        let acknowledged = state.withLock { $0.acknowledged }
        func delivered() -> Set<String> {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("out"))) ?? []
            var ids: Set<String> = []
            for file in files {
                let text = (try? String(contentsOfFile: dir.file("out") + "/" + file, encoding: .utf8)) ?? ""
                for part in text.components(separatedBy: #""resourceId":""#).dropFirst() { ids.insert(String(part.prefix { $0 != "\"" })) }
            }
            return ids
        }
        let all = await eventually(60) { Set(acknowledged).isSubset(of: delivered()) }
        let missing = Set(acknowledged).subtracting(delivered())
        let (statuses, slowest) = state.withLock { ($0.statuses, $0.slowest) }
        let stderr = daemon.stderr
        let shortage = stderr.components(separatedBy: "out of file descriptors, memory or disk space").count - 1
        #expect(all && missing.isEmpty, "\(missing.count) acknowledged events never delivered")
        #expect((statuses[503] ?? 0) > 0, "no 503 during the outage: \(statuses)")
        #expect((slowest[1] ?? 0) < 5, "an answer during the outage took \(slowest[1] ?? 0) s (Xero gives up at 5 s)")
        #expect(shortage <= 10, "\(shortage) 'worker waiting: out of file descriptors, memory or disk space' warnings for a database outage")
        daemon.signal(SIGTERM)
        #expect(await daemon.exited() == 0)
    }
}

// MARK: Helpers

private func payload(_ tenant: String, _ resource: String, tag: String) -> [UInt8] {
    let event = #"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/\#(resource)","resourceId":"\#(resource)","eventDateUtc":"2026-12-04T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(tenant)","tenantType":"ORGANISATION","tag":"\#(tag)"}"#
    return QueuedEvent(receivedAt: "2026-12-04T01:15:40.000Z", eventSequence: nil, event: Array(event.utf8)).encoded()
}

private func found(_ requests: [FetchRequest], _ version: Int) -> [ResourceKey: FetchOutcome] {
    Dictionary(uniqueKeysWithValues: requests.map { ($0.key, FetchOutcome.found(Array(#"{"v":\#(version)}"#.utf8))) })
}

private func append(_ queue: PostgresEventQueue, _ payloads: [[UInt8]]) async -> Result<Range<UInt64>, DiskQueueError> {
    await withCheckedContinuation { continuation in queue.append(payloads) { continuation.resume(returning: $0) } }
}

private func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < end {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

private struct ClosureFetcher: ResourceFetcher {
    let body: @Sendable ([FetchRequest]) async -> [ResourceKey: FetchOutcome]
    init(_ body: @escaping @Sendable ([FetchRequest]) async -> [ResourceKey: FetchOutcome]) { self.body = body }
    func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchOutcome] { await body(requests) }
}

private final class RecordingSink: Sendable {
    struct Delivery: Sendable {
        let by: String
        let key: ResourceKey
        let tags: [String]
        let resource: String?
    }

    let log = Mutex<[Delivery]>([])
    let attempts = Mutex<[String: Int]>([:])
    let failing: @Sendable (DeliveryRecord) -> Bool

    init(failing: @escaping @Sendable (DeliveryRecord) -> Bool = { _ in false }) { self.failing = failing }

    var deliveries: [Delivery] { log.withLock { $0 } }

    func named(_ name: String) -> any Sink { Named(name: name, recorder: self) }

    private struct Named: Sink {
        let name: String
        let recorder: RecordingSink
        func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
            records.map { record in
                recorder.attempts.withLock { $0[record.key.resourceID, default: 0] += 1 }
                if recorder.failing(record) { return .failure(SinkError("boom")) }
                let tags = record.items.map { item -> String in
                    let text = String(decoding: item.event, as: UTF8.self)
                    guard let start = text.range(of: #""tag":""#) else { return "?" }
                    return String(text[start.upperBound...].prefix { $0 != "\"" })
                }
                recorder.log.withLock { $0.append(Delivery(by: name, key: record.key, tags: tags,
                                                            resource: record.resource.map { String(decoding: $0, as: UTF8.self) })) }
                return .success(())
            }
        }
    }
}

private enum DB {
    static func strings(_ url: String, _ statement: String) async throws -> [String] {
        let client = PostgresClient(configuration: try PostgresEndpoint.parse(url).clientConfiguration(name: "fault-test"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var values: [String] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: statement)) {
            values.append((try? row.decode(String?.self)).flatMap { $0 } ?? "")
        }
        return values
    }

    static func count(_ url: String, _ statement: String) async throws -> Int64 {
        let client = PostgresClient(configuration: try PostgresEndpoint.parse(url).clientConfiguration(name: "fault-test"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var value: Int64 = 0
        for try await row in try await client.query(PostgresQuery(unsafeSQL: statement)) { value = (try? row.decode(Int64.self)) ?? 0 }
        return value
    }

    static func run(_ url: String, _ statement: String) async throws {
        let client = PostgresClient(configuration: try PostgresEndpoint.parse(url).clientConfiguration(name: "fault-test"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        for try await _ in try await client.query(PostgresQuery(unsafeSQL: statement)) {}
    }
}
