import DaemonConfig
import Foundation
import Logging
import PostgresNIO
import PostgresSink
import PostgresSupport
import PostgresTestSupport
import Synchronization
import Testing
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// The postgres sink when the server ends its sessions, stops answering or restarts.
/// Each test runs its own throwaway cluster: they kill or stop every `xero-webhookd` session.
@Suite(.serialized, .enabled(if: TestPostgres.runs, "needs a PostgreSQL server"))
struct SinkFaultTests {
    private static let log = Logger(label: "test")

    private func ok(_ results: [Result<Void, SinkError>]) -> Bool { results.allSatisfy { (try? $0.get()) != nil } }

    private func poll(seconds: Double = 60, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// One statement on a fresh client of its own (application_name `test-admin`), first column as Int64.
    private static func scalar(_ endpoint: PostgresEndpoint, _ sql: String) async throws -> Int64 {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 1, name: "test-admin"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        return try await Deadline.run(within: .seconds(20)) {
            var value: Int64 = 0
            for try await v in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(Int64.self) { value = v }
            return value
        }
    }

    private static func exec(_ endpoint: PostgresEndpoint, _ sql: String) async throws {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 1, name: "test-admin"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        try await Deadline.run(within: .seconds(20)) { _ = try await client.query(PostgresQuery(unsafeSQL: sql)) }
    }

    private static func pids(_ endpoint: PostgresEndpoint, _ condition: String) async throws -> [Int32] {
        let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 1, name: "test-admin"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        var pids: [Int32] = []
        for try await pid in try await client.query(PostgresQuery(unsafeSQL: "SELECT pid FROM pg_stat_activity WHERE \(condition)")).decode(Int32.self) {
            pids.append(pid)
        }
        return pids
    }

    private static func record(_ id: String) throws -> DeliveryRecord {
        try Fixtures.record(id: id, resource: "{}", fetchedAt: "2026-11-29T01:00:02.000Z")
    }

    /// Holds `LOCK TABLE … ACCESS EXCLUSIVE` in a transaction of its own until `release()`.
    private final class TableLock: Sendable {
        private final class Gate: Sendable { let slot = Mutex<CheckedContinuation<Void, Never>?>(nil) }
        private let gate = Gate()
        private let task: Task<Void, any Error>

        init(_ endpoint: PostgresEndpoint, _ table: String) {
            let gate = self.gate
            task = Task {
                let client = PostgresClient(configuration: endpoint.clientConfiguration(connections: 1, name: "test-locker"))
                let runner = Task { await client.run() }
                defer { runner.cancel() }
                try await client.withTransaction(logger: SinkFaultTests.log) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE"), logger: SinkFaultTests.log)
                    await withCheckedContinuation { continuation in gate.slot.withLock { $0 = continuation } }
                }
            }
        }

        func held() -> Bool { gate.slot.withLock { $0 != nil } }

        func release() async {
            gate.slot.withLock { $0?.resume(); $0 = nil }
            _ = try? await task.value
        }
    }

    /// Backends that stop answering mid-statement (SIGSTOP: a frozen server, a partition): each
    /// delivery fails at the sink's timeout and closes its connection, so after more such
    /// deliveries than the pool holds the sink still delivers on new sessions.
    @Test func hungBackendsDoNotLeakTheSinkPool() async throws {
        let cluster = try await ThrowawayPostgres.startOffPool()
        defer { cluster.stopInBackground() }
        let endpoint = try PostgresEndpoint.parse(cluster.url())
        let table = TestPostgres.uniqueTable("fault_hung")
        let sink = PostgresSink(endpoint: endpoint, table: ResourceTable(table)!, timeout: .seconds(2))
        sink.start()
        #expect(ok(await sink.deliver([try Self.record("warm")])))

        let lock = TableLock(endpoint, table)
        #expect(try await poll { lock.held() })
        let deliveries = (0..<4).map { n in Task { await sink.deliver([try Self.record("hung-\(n)")]) } }
        var stopped: [Int32] = []
        #expect(try await poll {
            stopped = try await Self.pids(endpoint, "application_name = 'xero-webhookd' AND wait_event_type = 'Lock'")
            return stopped.count == 4
        }, "four deliveries waiting on the lock")
        for pid in stopped { kill(pid, SIGSTOP) }
        defer { for pid in stopped { kill(pid, SIGCONT) } }
        await lock.release()
        for delivery in deliveries {
            let outcome = try? await Deadline.run(within: .seconds(30)) { try await delivery.value }
            #expect(outcome.map(ok) == false, "a delivery on a stopped backend: \(String(describing: outcome))")
        }

        // The server is healthy: a new session answers at once.
        #expect(try await Self.scalar(endpoint, "SELECT 1") == 1)
        // The sink: every later delivery fails, for as long as the four backends stay silent.
        var failures: [String] = []
        var delivered = false
        let started = ContinuousClock.now
        for n in 0..<8 {
            let results = await sink.deliver([try Self.record("after-\(n)")])
            if ok(results) { delivered = true; break }
            if case let .failure(error)? = results.first { failures.append("\(error)") }
        }
        #expect(delivered, "no delivery succeeded in \(ContinuousClock.now - started) after the pool's connections hung: \(failures.count) failures, last \(failures.last ?? "-")")
        for pid in stopped { kill(pid, SIGCONT) }
        await sink.stop()
    }

    /// The server ends the sink's idle pooled sessions (an administrator, idle_session_timeout):
    /// no delivery hangs past the sink's timeout, and deliveries succeed again at once after.
    @Test func idleSessionsKilledInThePoolDoNotStallTheNextDelivery() async throws {
        let cluster = try await ThrowawayPostgres.startOffPool()
        defer { cluster.stopInBackground() }
        let endpoint = try PostgresEndpoint.parse(cluster.url())
        let table = TestPostgres.uniqueTable("fault_idle")
        let sink = PostgresSink(endpoint: endpoint, table: ResourceTable(table)!, timeout: .seconds(10))
        sink.start()
        // Several connections into the pool.
        let warm = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<4 { group.addTask { self.ok(await sink.deliver([try! Self.record("warm-\(n)")])) } }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(warm)
        let killed = try await Self.scalar(endpoint, """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'xero-webhookd' AND state = 'idle'
            """)
        #expect(killed > 0)
        // A delivery that meets a session as it dies may wait out the sink's 10 s timeout
        // (postgres-nio queues the statement on the closing connection); none waits longer, and
        // the connection is then closed, so the next delivery succeeds at once.
        var outcomes: [(ok: Bool, took: Duration)] = []
        for n in 0..<6 {
            let started = ContinuousClock.now
            let results = await sink.deliver([try Self.record("after-kill-\(n)")])
            outcomes.append((ok(results), ContinuousClock.now - started))
        }
        #expect(outcomes.allSatisfy { $0.took < .seconds(15) }, "\(outcomes)")
        #expect(outcomes.suffix(2).allSatisfy { $0.ok && $0.took < .seconds(5) }, "\(outcomes)")
        // idle_session_timeout: the server ends idle sessions itself (FATAL 57P05).
        _ = try await Self.scalar(endpoint, "SELECT count(*) FROM (SELECT 1) s")
        try await Self.exec(endpoint, "ALTER SYSTEM SET idle_session_timeout = '500ms'")
        try await Self.exec(endpoint, "SELECT pg_reload_conf()")
        #expect(ok(await sink.deliver([try Self.record("before-timeout")])))
        #expect(try await poll { try await Self.scalar(endpoint, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xero-webhookd'") == 0 })
        var afterTimeout: [(ok: Bool, took: Duration)] = []
        for n in 0..<3 {
            let started = ContinuousClock.now
            let results = await sink.deliver([try Self.record("after-timeout-\(n)")])
            afterTimeout.append((ok(results), ContinuousClock.now - started))
        }
        #expect(afterTimeout.allSatisfy { $0.took < .seconds(15) } && afterTimeout.last?.ok == true, "\(afterTimeout)")
        await sink.stop()
    }

    /// The server crashes (immediate stop) and comes back while deliveries run back to back:
    /// every delivery reported successful has its row, and the sink delivers again soon after
    /// the server is back.
    @Test func serverCrashAndRestartMidDeliveries() async throws {
        let cluster = try await ThrowawayPostgres.startOffPool()
        defer { cluster.stopInBackground() }
        let endpoint = try PostgresEndpoint.parse(cluster.url())
        let table = TestPostgres.uniqueTable("fault_restart")
        let sink = PostgresSink(endpoint: endpoint, table: ResourceTable(table)!, timeout: .seconds(5))
        sink.start()
        #expect(ok(await sink.deliver([try Self.record("warm")])))
        let acknowledged = Mutex<[String]>([])
        let failed = Mutex<[String]>([])
        let stop = Mutex(false)
        let upAgain = Mutex<ContinuousClock.Instant?>(nil)
        let firstAfter = Mutex<ContinuousClock.Instant?>(nil)
        let loop = Task {
            var n = 0
            while !stop.withLock({ $0 }) {
                n += 1
                let ids = (0..<5).map { "r\(n)-\($0)" }
                let results = await sink.deliver(try ids.map(Self.record))
                for (id, result) in zip(ids, results) {
                    if (try? result.get()) != nil {
                        acknowledged.withLock { $0.append(id) }
                        if upAgain.withLock({ $0 }) != nil { firstAfter.withLock { $0 = $0 ?? ContinuousClock.now } }
                    } else if case let .failure(error) = result {
                        failed.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        #expect(try await poll { acknowledged.withLock { $0.count } >= 50 })
        try await cluster.stopImmediatelyOffPool()
        #expect(try await poll { failed.withLock { $0.count } > 0 })
        try await cluster.startAgainOffPool()
        upAgain.withLock { $0 = ContinuousClock.now }
        let recovered = try await poll(seconds: 90) { firstAfter.withLock { $0 } != nil }
        let recovery = firstAfter.withLock { $0 }.map { $0 - upAgain.withLock { $0! } }
        stop.withLock { $0 = true }
        _ = try? await loop.value
        #expect(recovered, "the sink did not deliver within 90 s of the server's restart; failures: \(failed.withLock { $0.suffix(3) })")
        #expect(recovery.map { $0 < .seconds(10) } == true, "first delivery \(String(describing: recovery)) after the server came back")
        let ids = acknowledged.withLock { $0 }
        let stored = try await Self.scalar(endpoint, "SELECT count(*) FROM \(table) WHERE resource_id = ANY(ARRAY['\(ids.joined(separator: "','"))'])")
        #expect(stored == Int64(ids.count), "acknowledged \(ids.count), stored \(stored)")
        await sink.stop()
    }
}
