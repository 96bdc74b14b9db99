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

    private static func queue(schema: String) async throws -> PostgresEventQueue {
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let setup = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await setup.run() }
        try await setup.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"))
        runner.cancel()
        return PostgresEventQueue(endpoint: endpoint, schema: schema)
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
        let sink = WatchingSink()
        sink.failNext(1000)
        let worker = PostgresQueueWorker(queue: queue, fetcher: EventsOnlyFetcher(), sink: sink, configuration: Self.configuration(maxAttempts: 3),
                                         lease: .seconds(5))
        worker.start()
        #expect(try await eventually { try await Self.count(schema, "xero_webhookd_dead_events") == 2 })
        await worker.stop()
        #expect(try await Self.count(schema, "xero_webhookd_events") == 0)
        #expect(worker.statusSnapshot.deadLettered == 2)
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
        await queue.close()
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
