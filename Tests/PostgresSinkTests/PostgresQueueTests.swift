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
import Testing
import TestSupport
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// The postgres queue against a real server: what the receiver's append commits, and how the
/// worker takes a lane's events (order, retries, dead letters, one daemon per lane at a time).
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct PostgresQueueTests {
    /// A sink that records what it got, can fail, and notes two deliveries of one tenant at once.
    final class WatchingSink: Sink, Sendable {
        private struct State {
            var delivered: [(tenant: String, resource: String, events: [String])] = []
            var failures = 0
            var inFlight: [String: Int] = [:]
            var overlaps = 0
        }
        private let state = Mutex(State())
        func failNext(_ count: Int) { state.withLock { $0.failures = count } }
        var delivered: [(tenant: String, resource: String, events: [String])] { state.withLock { $0.delivered } }
        var overlaps: Int { state.withLock { $0.overlaps } }

        func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
            let tenant = records.first?.key.tenantID ?? ""
            state.withLock { state in
                state.inFlight[tenant, default: 0] += 1
                if state.inFlight[tenant]! > 1 { state.overlaps += 1 }
            }
            try? await Task.sleep(for: .milliseconds(5))  // so overlapping deliveries would meet
            return state.withLock { state in
                state.inFlight[tenant, default: 1] -= 1
                return records.map { record in
                    if state.failures > 0 {
                        state.failures -= 1
                        return .failure(SinkError("the user's system is down"))
                    }
                    state.delivered.append((record.key.tenantID, record.key.resourceID, record.items.map(\.eventType)))
                    return .success(())
                }
            }
        }
    }

    private static func queue(schema: String, appendLimit: Duration = .seconds(4)) async throws -> PostgresEventQueue {
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let setup = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await setup.run() }
        try await setup.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"))
        runner.cancel()
        return PostgresEventQueue(endpoint: endpoint, schema: schema, appendLimit: appendLimit)
    }

    private static func record(tenant: String, resource: String, type: String) -> [UInt8] {
        let event = #"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/\#(resource)","resourceId":"\#(resource)","eventDateUtc":"2026-11-29T01:00:00.000","eventType":"\#(type)","eventCategory":"INVOICE","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
        return QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: nil, event: Array(event.utf8)).encoded()
    }

    private static func append(_ queue: PostgresEventQueue, _ records: [[UInt8]]) async -> Result<Range<UInt64>, DiskQueueError> {
        await withCheckedContinuation { continuation in queue.append(records) { continuation.resume(returning: $0) } }
    }

    private static func count(_ schema: String, _ table: String) async throws -> Int64 {
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var count: Int64 = 0
        for try await value in try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(schema).\(table)")).decode(Int64.self) { count = value }
        return count
    }

    private func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    private static func configuration(maxAttempts: Int = 10, resourcesPerFetch: Int = 250) -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.maxAttempts = maxAttempts
        configuration.maxResourcesPerFetch = resourcesPerFetch
        configuration.backoff = Backoff(base: .milliseconds(20), cap: .milliseconds(100))
        return configuration
    }

    /// Many deliveries for one tenant at once share transactions (group commit): each is told
    /// the ids its own events got, every event is stored once under the id it was told, and a
    /// delivery's ids are in the order of its events.
    @Test func concurrentDeliveriesShareCommitsAndEachLearnsItsOwnIDs() async throws {
        let schema = TestPostgres.uniqueTable("group")
        let queue = try await Self.queue(schema: schema)
        defer { Task { await queue.close() } }
        let tenant = "aaaaaaaa-0000-0000-0000-00000000a001"
        let deliveries = (0..<60).map { n in
            (0..<(n % 3 + 1)).map { k in Self.record(tenant: tenant, resource: String(format: "bbbbbbbb-0000-0000-%04d-%012d", n, k), type: "UPDATE") }
        }
        let answers = Mutex<[Int: Result<Range<UInt64>, DiskQueueError>]>([:])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let left = Mutex(deliveries.count)
            for (n, records) in deliveries.enumerated() {
                queue.append(records) { result in
                    answers.withLock { $0[n] = result }
                    if left.withLock({ $0 -= 1; return $0 }) == 0 { done.resume() }
                }
            }
        }
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var stored: [Int64: [UInt8]] = [:]
        for try await (id, record) in try await client.query(PostgresQuery(unsafeSQL: "SELECT id, record FROM \(schema).xero_webhookd_events")).decode((Int64, ByteBuffer).self) {
            stored[id] = Array(buffer: record)
        }
        #expect(stored.count == deliveries.reduce(0) { $0 + $1.count })
        // Shared: the rows of 60 deliveries came from fewer transactions (a row's xmin is the
        // transaction that inserted it).
        var transactions = 0
        for try await count in try await client.query(PostgresQuery(unsafeSQL: "SELECT count(DISTINCT xmin::text) FROM \(schema).xero_webhookd_events")).decode(Int.self) {
            transactions = count
        }
        #expect(transactions > 0 && transactions < deliveries.count / 2, "\(transactions) transactions for \(deliveries.count) deliveries")
        for (n, records) in deliveries.enumerated() {
            guard case let .success(range)? = answers.withLock({ $0[n] }) else {
                Issue.record("delivery \(n) was not stored: \(String(describing: answers.withLock { $0[n] }))")
                continue
            }
            // Its own events, in its order, at the first and last id of its range.
            #expect(stored[Int64(range.lowerBound)] == records.first && stored[Int64(range.upperBound - 1)] == records.last, "delivery \(n): \(range)")
            #expect(range.count >= records.count)
        }
    }

    /// One delivery in a shared commit whose data the server refuses (a check constraint the
    /// operator added) gets its 503 alone; the deliveries committed with it are stored.
    @Test func aRefusedDeliveryDoesNotFailTheOthersInItsCommit() async throws {
        let schema = TestPostgres.uniqueTable("poison")
        // Time enough on a loaded machine for the others to be committed apart from the refused ones.
        let queue = try await Self.queue(schema: schema, appendLimit: .seconds(120))
        defer { Task { await queue.close() } }
        let refusedTenant = "aaaaaaaa-0000-0000-0000-00000000dead"
        guard case .success = await Self.append(queue, [Self.record(tenant: "aaaaaaaa-0000-0000-0000-00000000a002", resource: "bbbbbbbb-0000-0000-0000-00000000fffe", type: "UPDATE")]) else {
            Issue.record("the first append failed")
            return
        }
        _ = try await ClusterOperatorTests.sql(TestPostgres.server().url(), "ALTER TABLE \(schema).xero_webhookd_events ADD CONSTRAINT no_dead_tenant CHECK (tenant <> '\(refusedTenant)')")
        let poison = Self.record(tenant: refusedTenant, resource: "bbbbbbbb-0000-0000-0000-00000000ffff", type: "UPDATE")
        var deliveries = (0..<20).map { n in [Self.record(tenant: "aaaaaaaa-0000-0000-0000-00000000a002", resource: String(format: "bbbbbbbb-0000-0000-0000-%012d", n), type: "UPDATE")] }
        for n in [1, 7, 15] { deliveries.insert([poison], at: n) }
        let answers = Mutex<[Int: Bool]>([:])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let left = Mutex(deliveries.count)
            for (n, records) in deliveries.enumerated() {
                queue.append(records) { result in
                    answers.withLock { $0[n] = (try? result.get()) != nil }
                    if left.withLock({ $0 -= 1; return $0 }) == 0 { done.resume() }
                }
            }
        }
        let refused = answers.withLock { $0 }.filter { !$0.value }.map(\.key).sorted()
        #expect(refused == [1, 7, 15], "only the deliveries with the refused tenant id are answered 503")
        #expect(try await Self.count(schema, "xero_webhookd_events") == 21)
    }

    /// Tenant ids no tenant could have (a NUL, which a text column cannot hold; 10,000
    /// characters, more than an index entry may hold; non-ASCII) do not make the server refuse
    /// the delivery every time Xero sends it again: their events wait in lane "", and the
    /// deliveries beside them keep their own lanes.
    @Test func eventsWithImpossibleTenantIdsAreStoredInLaneEmpty() async throws {
        let schema = TestPostgres.uniqueTable("oddtenant")
        let queue = try await Self.queue(schema: schema)
        defer { Task { await queue.close() } }
        let good = "aaaaaaaa-0000-0000-0000-00000000A003"
        // As the receiver parsed them from the events' JSON (`\u0000` is a NUL), and random, so
        // the long one does not compress to fit an index entry.
        let long = (0..<5000).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let odd = ["aaaa\u{0}bbbb", long, "t\u{00E9}nant-\u{1F600}", ""]
        for tenant in odd {
            let records = [Self.record(tenant: "x", resource: "bbbbbbbb-0000-0000-0000-000000000001", type: "UPDATE"),
                           Self.record(tenant: good, resource: "bbbbbbbb-0000-0000-0000-000000000002", type: "UPDATE")]
            let result = await withCheckedContinuation { continuation in
                queue.append(records, tenants: [tenant, good]) { continuation.resume(returning: $0) }
            }
            #expect((try? result.get())?.count == 2, "tenant of \(tenant.utf8.count) bytes: \(result)")
        }
        // A Kelvin sign's lower case is an ASCII k: the worker keys this event as the tenant
        // ending in k, so it waits in that tenant's lane, behind that tenant's other events.
        let kelvin = await withCheckedContinuation { continuation in
            queue.append([Self.record(tenant: "x", resource: "bbbbbbbb-0000-0000-0000-000000000003", type: "UPDATE")],
                         tenants: ["aaaaaaaa-0000-0000-0000-00000000A00\u{212A}"]) { continuation.resume(returning: $0) }
        }
        #expect((try? kelvin.get())?.count == 1)
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var lanes: [String: Int] = [:]
        for try await (tenant, count) in try await client.query(PostgresQuery(unsafeSQL: "SELECT tenant, count(*)::int8 FROM \(schema).xero_webhookd_events GROUP BY tenant")).decode((String, Int64).self) {
            lanes[tenant] = Int(count)
        }
        #expect(lanes == ["": 4, good.lowercased(): 4, "aaaaaaaa-0000-0000-0000-00000000a00k": 1], "\(lanes.mapValues { $0 }.map { ($0.key.prefix(40), $0.value) })")
    }

    /// Two daemons' workers on one queue, one resource per pass and a sink that fails at first:
    /// every event is delivered once, each resource's events in the order they were received,
    /// and never two deliveries of one tenant at once.
    @Test func twoWorkersDeliverEachTenantInOrderOneAtATime() async throws {
        let schema = TestPostgres.uniqueTable("q")
        let queue = try await Self.queue(schema: schema)
        var records: [[UInt8]] = []
        for round in 0..<6 {
            for tenant in ["t-a", "t-b", "t-c"] {
                for resource in ["r-1", "r-2"] { records.append(Self.record(tenant: tenant, resource: resource, type: "E\(round)")) }
            }
        }
        guard case let .success(ids) = await Self.append(queue, records) else {
            Issue.record("append failed")
            return
        }
        #expect(ids.count == 36)
        #expect(try await Self.count(schema, "xero_webhookd_events") == 36)
        let sink = WatchingSink()
        sink.failNext(4)
        let workers = (0..<2).map { _ in
            PostgresQueueWorker(queue: queue, fetcher: EventsOnlyFetcher(), sink: sink, configuration: Self.configuration(resourcesPerFetch: 1),
                                lease: .seconds(5))
        }
        for worker in workers { worker.start() }
        #expect(try await eventually { try await Self.count(schema, "xero_webhookd_events") == 0 })
        for worker in workers { await worker.stop() }
        let delivered = sink.delivered
        #expect(delivered.reduce(0) { $0 + $1.events.count } == 36)
        for tenant in ["t-a", "t-b", "t-c"] {
            for resource in ["r-1", "r-2"] {
                let order = delivered.filter { $0.tenant == tenant && $0.resource == resource }.flatMap(\.events)
                #expect(order == (0..<6).map { "E\($0)" }, "\(tenant)/\(resource): \(order)")
            }
        }
        #expect(sink.overlaps == 0)
        await queue.close()
    }

    /// A sink that keeps failing: the events are retried with backoff, then dead-lettered with
    /// the reason after `maxAttempts`; a record that is not a Xero event is dead-lettered at once
    /// and holds nothing back.
    @Test func failuresAreRetriedThenDeadLetteredAndPoisonDoesNotStallTheLane() async throws {
        let schema = TestPostgres.uniqueTable("q")
        let queue = try await Self.queue(schema: schema)
        let poison = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: nil, event: Array(#"{"resourceId":"x"}"#.utf8)).encoded()
        _ = await Self.append(queue, [poison, Self.record(tenant: "t-a", resource: "r-1", type: "UPDATE")])
        // A row an operator put in by hand, with an id the queue never gives (it would not fit
        // the worker's sequence numbers): buried with the reason, not a crash.
        _ = try await ClusterOperatorTests.sql(TestPostgres.server().url(), """
            INSERT INTO \(schema).xero_webhookd_events (id, tenant, record)
            SELECT -5, 't-b', record FROM \(schema).xero_webhookd_events WHERE tenant = 't-a'
            """)
        _ = try await ClusterOperatorTests.sql(TestPostgres.server().url(), "INSERT INTO \(schema).xero_webhookd_lanes (tenant) VALUES ('t-b')")
        // And a letter with that id already (an earlier hand-made row): both letters are kept.
        _ = try await ClusterOperatorTests.sql(TestPostgres.server().url(), """
            INSERT INTO \(schema).xero_webhookd_dead_events (id, tenant, record, received_at, attempts, reason)
            VALUES (-5, 't-old', convert_to('old', 'UTF8'), now(), 1, 'an older letter')
            """)
        let sink = WatchingSink()
        sink.failNext(1000)
        let worker = PostgresQueueWorker(queue: queue, fetcher: EventsOnlyFetcher(), sink: sink, configuration: Self.configuration(maxAttempts: 3),
                                         lease: .seconds(5))
        worker.start()
        #expect(try await eventually { try await Self.count(schema, "xero_webhookd_dead_events") == 4 })
        await worker.stop()
        #expect(try await Self.count(schema, "xero_webhookd_events") == 0)
        #expect(worker.statusSnapshot.deadLettered == 3)
        // The reasons, and three attempts for the event the sink refused.
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        var reasons: [String: (Int32, String)] = [:]
        for try await (tenant, attempts, reason) in try await client.query(PostgresQuery(unsafeSQL: "SELECT tenant, attempts, reason FROM \(schema).xero_webhookd_dead_events")).decode((String, Int32, String).self) {
            reasons[tenant] = (attempts, reason)
        }
        runner.cancel()
        #expect(reasons["t-a"]?.0 == 3 && reasons["t-a"]?.1.contains("the user's system is down") == true, "\(reasons)")
        #expect(reasons[""]?.1.contains("tenantId") == true, "\(reasons)")
        #expect(reasons["t-b"]?.1.contains("id -5 is not one the queue gives") == true, "\(reasons)")
        #expect(reasons["t-old"]?.1 == "an older letter", "\(reasons)")
        await queue.close()
    }

    /// The events' ids restarted (`TRUNCATE … RESTART IDENTITY`) while letters 1…30 were kept:
    /// two daemons' workers bury 24 unreadable events, all with ids letters have, in 20 lanes
    /// at once. Every letter is kept under an id of its own, each moved one names its event,
    /// and no settle fails (it would be done again, and its deliveries with it).
    @Test func buriedEventsWhoseIdsLettersHaveKeepEveryLetter() async throws {
        let schema = TestPostgres.uniqueTable("clash")
        let queue = try await Self.queue(schema: schema)
        defer { Task { await queue.close() } }
        #expect(try await queue.eventsPage(after: nil).isEmpty)  // the tables
        let url = try TestPostgres.server().url()
        _ = try await ClusterOperatorTests.sql(url, """
            INSERT INTO \(schema).xero_webhookd_dead_events (id, tenant, record, received_at, attempts, reason)
            SELECT n, 'old', convert_to('old', 'UTF8'), now(), 1, 'an older letter' FROM generate_series(1, 30) n
            """)
        _ = try await ClusterOperatorTests.sql(url, "TRUNCATE \(schema).xero_webhookd_events RESTART IDENTITY")
        _ = try await ClusterOperatorTests.sql(url, "INSERT INTO \(schema).xero_webhookd_lanes (tenant) SELECT 't-' || n FROM generate_series(1, 20) n")
        _ = try await ClusterOperatorTests.sql(url, """
            INSERT INTO \(schema).xero_webhookd_events (tenant, record)
            SELECT CASE WHEN n <= 5 THEN 't-1' ELSE 't-' || (n - 4) END, convert_to('garbage', 'UTF8') FROM generate_series(1, 24) n
            """)
        let sink = WatchingSink()
        let workers = (0..<2).map { _ in
            PostgresQueueWorker(queue: queue, fetcher: EventsOnlyFetcher(), sink: sink, configuration: Self.configuration(), lease: .seconds(5))
        }
        for worker in workers { worker.start() }
        #expect(try await eventually { try await Self.count(schema, "xero_webhookd_events") == 0 })
        for worker in workers { await worker.stop() }
        #expect(workers.reduce(0) { $0 + $1.statusSnapshot.deadLettered } == 24, "a settle failed and was done again")
        #expect(try await ClusterOperatorTests.sql(url, "SELECT count(DISTINCT id) FROM \(schema).xero_webhookd_dead_events") == 54)
        #expect(try await ClusterOperatorTests.sql(url, "SELECT count(*) FROM \(schema).xero_webhookd_dead_events WHERE reason = 'an older letter' AND id <= 30") == 30)
        #expect(try await ClusterOperatorTests.sql(url, """
            SELECT count(*) FROM \(schema).xero_webhookd_dead_events WHERE id > 30 AND reason LIKE '%(event %, whose id a letter had already)'
            """) == 24)
    }

    /// Nothing is acknowledged when the database cannot take the events: the receiver gets
    /// `.unavailable` (its 503) within the statement limit.
    @Test func anUnreachableDatabaseIsRefusedNotAcknowledged() async throws {
        // A port that was free a moment ago: nothing answers there.
        let (fd, port) = loopbackListener()
        close(fd)
        let queue = PostgresEventQueue(endpoint: try PostgresEndpoint.parse("postgres://nobody@127.0.0.1:\(port)/none?sslmode=disable"),
                                       statementLimit: .seconds(2))
        let started = ContinuousClock.now
        guard case let .failure(error) = await Self.append(queue, [Self.record(tenant: "t-a", resource: "r-1", type: "UPDATE")]) else {
            Issue.record("acknowledged without a database")
            return
        }
        // Loosely: the full run's blocking tests can hold the pool's threads for tens of seconds.
        #expect(ContinuousClock.now - started < .seconds(600))
        guard case .unavailable = error else {
            Issue.record("\(error)")
            return
        }
        await queue.close()
    }
}
