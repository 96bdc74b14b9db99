import DiskQueue
import Foundation
import ResourceFetch
import Synchronization
import TestSupport
import Testing
@testable import Worker

/// The worker's state files (finished.json, pauses.json) when they disagree with the queue or
/// the clock, and pauses that hold back more than what needs them.
@Suite struct WorkerStateFaultTests {
    typealias Setup = WorkerTests.Setup

    func subscription(_ id: String) -> [UInt8] {
        Array(#"{"resourceUrl":"https://api.xero.com/appstore/2.0/subscriptions/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:00:00.000","eventType":"UPDATE","eventCategory":"SUBSCRIPTION","tenantId":"app","tenantType":"APPLICATION"}"#.utf8)
    }

    /// Runs `count` passes, letting lanes finish in between.
    func passes(_ worker: Worker, _ count: Int) async throws {
        for _ in 0..<count {
            try await worker.pass()
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The operator empties the queue directory (a fresh queue starts again at sequence 1) and
    /// keeps the rest of the state directory: the old finished.json names sequences the new
    /// queue reuses. Those new events are never fetched or delivered, yet acknowledged.
    @Test func aRecreatedQueueIsNotSkippedByAnOldFinishedFile() async throws {
        let dir = try TemporaryDirectory("xero-webhookd-worker")
        defer { dir.remove() }
        let fetcher = ScriptedFetcher(), sink = MemorySink(), clock = TestClock()
        func worker(_ queue: DiskQueue) -> Worker {
            Worker(queue: queue, fetcher: fetcher, sink: sink, stateDirectory: dir.file("state"),
                   now: { clock.now }, random: { 0.5 })
        }
        let old = try DiskQueue(directory: dir.file("state/queue"))
        fetcher.script(ResourceKey(tenantID: "a", category: "INVOICE", resourceID: "r1"), [.retryable("500 from Xero", retryAfter: nil)])
        try enqueue(old, [event(tenant: "a", resource: "r1"), event(tenant: "b", resource: "r2"), event(tenant: "c", resource: "r3")])
        let before = worker(old)
        #expect(try await drive(before) { finishedRanges(dir.file("state/worker/finished.json")) == [[2, 3]] })
        await before.stop()
        old.close()
        try FileManager.default.removeItem(atPath: dir.file("state/queue"))

        let fresh = try DiskQueue(directory: dir.file("state/queue"))
        defer { fresh.close() }
        try enqueue(fresh, [event(tenant: "x", resource: "n1"), event(tenant: "y", resource: "n2"), event(tenant: "z", resource: "n3")])
        let after = worker(fresh)
        clock.advance(.seconds(3600))  // past the old retry.json entry of sequence 1 (also carried over)
        try await passes(after, 50)
        let delivered = Set(sink.records.map(\.key.resourceID))
        #expect(delivered.isSuperset(of: ["n1", "n2", "n3"]), "delivered: \(delivered.sorted()), position \(fresh.consumerPosition)")
    }

    /// A finished.json that names sequences never delivered (damage, a restored backup, a
    /// hand edit) must at worst cause redelivery, as FinishedStore's comment promises.
    @Test func aDamagedFinishedFileDoesNotAcknowledgeUndeliveredEvents() async throws {
        let setup = try Setup()
        defer { setup.close() }
        try FileManager.default.createDirectory(atPath: setup.dir.file("state/worker"), withIntermediateDirectories: true)
        try Data("[[1,2]]".utf8).write(to: URL(fileURLWithPath: setup.dir.file("state/worker/finished.json")))
        try enqueue(setup.queue, [event(tenant: "a", resource: "r1"), event(tenant: "b", resource: "r2")])
        let worker = setup.worker()
        try await passes(worker, 50)
        #expect(setup.sink.records.count == 2, "delivered \(setup.sink.records.count), position \(setup.queue.consumerPosition)")
    }

    /// A disconnected tenant's held events stay in the read-ahead window until `maxAge`; once
    /// they fill it, no later event of any other tenant is read, so nothing else is delivered.
    @Test func aDisconnectedTenantDoesNotStarveOtherTenants() async throws {
        let setup = try Setup()
        defer { setup.close() }
        for index in 0..<4 {
            setup.fetcher.script(ResourceKey(tenantID: "gone", category: "INVOICE", resourceID: "g\(index)"), [.disconnected("403")])
        }
        setup.fetcher.setConnected(["ok"])
        try enqueue(setup.queue, (0..<4).map { event(tenant: "gone", resource: "g\($0)") })
        let worker = setup.worker { $0.window = 4 }
        #expect(try await drive(worker) { await !worker.currentStatus().pauses.isEmpty })
        try enqueue(setup.queue, [event(tenant: "ok", resource: "o")])
        try await passes(worker, 100)
        #expect(setup.sink.records.map(\.key.tenantID) == ["ok"], "the connected tenant's event is delivered at once")
    }

    /// A paused billing credential whose held SUBSCRIPTION events all reached `maxAge` holds
    /// back nothing any more, yet it stays paused (and `/readyz` 503) after SIGHUP and restart,
    /// until some later SUBSCRIPTION event happens to be fetched.
    @Test func aCredentialPauseWithNothingLeftToHoldEnds() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let billing = ResourceKey(tenantID: "app", category: "SUBSCRIPTION", resourceID: "s1")
        setup.fetcher.script(billing, Array(repeating: .paused("invalid_scope"), count: 10))
        try enqueue(setup.queue, [subscription("s1")])
        let worker = setup.worker { $0.maxAge = .seconds(60) }
        #expect(try await drive(worker) { await !worker.currentStatus().pauses.isEmpty })
        setup.clock.advance(.seconds(61))
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })  // dead-lettered at maxAge
        // The operator fixes the billing client and sends SIGHUP.
        await worker.recheckPauses()
        try await passes(worker, 20)
        let afterSighup = await worker.currentStatus().pauses
        #expect(afterSighup.isEmpty, "still paused: \(afterSighup)")
        let restarted = setup.worker()
        try await passes(restarted, 20)
        let afterRestart = await restarted.currentStatus().pauses
        #expect(afterRestart.isEmpty, "still paused after restart: \(afterRestart)")
    }

    /// The wall clock steps back an hour (NTP correcting a clock that ran fast) while the
    /// organisation token is paused. After the fix and SIGHUP events are delivered again, but
    /// the pause never ends: every fetch "started before the pause began".
    @Test func aCredentialPauseEndsAfterTheClockStepsBack() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.script(ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "r1"), [.paused("invalid_grant")])
        try enqueue(setup.queue, [event(tenant: "t", resource: "r1")])
        let recorder = EventRecorder()
        let worker = setup.worker(events: recorder.record)
        #expect(try await drive(worker) { await !worker.currentStatus().pauses.isEmpty })
        setup.clock.advance(.seconds(-3600))
        await worker.recheckPauses()  // the operator ran authorize again and sent SIGHUP
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        try enqueue(setup.queue, [event(tenant: "t", resource: "r2")])
        #expect(try await drive(worker) { await worker.currentStatus().position == 3 })
        let pauses = await worker.currentStatus().pauses
        #expect(pauses.isEmpty, "delivered twice, still paused: \(pauses)")
    }

    /// SIGTERM: `stop()` lets the delivery in flight finish, but nothing records it (no final
    /// pass writes finished.json or the consumer position), so the next start fetches and
    /// delivers it again.
    @Test func aDeliveryFinishedDuringStopIsNotDeliveredAgain() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.hold(tenant: "a")
        try enqueue(setup.queue, [event(tenant: "a", resource: "r1")])
        let worker = setup.worker()
        await worker.start()
        #expect(try await waitUntil { await worker.currentStatus().tenantsInFlight == 1 })
        let stopping = Task { await worker.stop() }
        try await Task.sleep(for: .milliseconds(50))
        setup.fetcher.release(tenant: "a")
        await stopping.value
        #expect(setup.sink.records.count == 1)
        let restarted = setup.worker()
        try await passes(restarted, 20)
        #expect(setup.sink.records.count == 1, "delivered again after a clean stop (position \(setup.queue.consumerPosition))")
    }

    /// The running loop's lanes belong to its task group, and stopping is not a cancellation:
    /// a fetch in flight when `stop()` is called runs to its end uncancelled and is delivered,
    /// and stop returns only after that.
    @Test func stoppingWaitsForTheLoopsLaneWithoutCancellingIt() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.hold(tenant: "a")
        try enqueue(setup.queue, [event(tenant: "a", resource: "r1")])
        let worker = setup.worker()
        await worker.start()
        // Polled without blocking a thread of the concurrency pool, which the loop needs.
        var inFlight = false
        let deadline = Date().addingTimeInterval(120)
        while !inFlight && Date() < deadline {
            inFlight = setup.fetcher.calls.isEmpty && worker.statusSnapshot.tenantsInFlight == 1
            if !inFlight { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(inFlight, "the loop started no lane")
        let stopping = Task { await worker.stop() }
        setup.fetcher.release(tenant: "a")
        await stopping.value
        #expect(setup.sink.records.count == 1)
        #expect(setup.fetcher.cancelledFetches == 0, "stopping cancelled the fetch in flight")
        #expect(setup.fetcher.calls.count == 1)
    }

    /// A 403 for a tenant `/connections` still lists (Xero's 403 for scopes the grant does not
    /// cover, e.g. a PREPAYMENT without accounting.payments.read): paused, listed, resumed,
    /// refused, paused again, every 30 s until `maxAge`; two log lines per cycle per tenant.
    @Test func aListedTenantXeroKeepsRefusingDoesNotFlap() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let key = ResourceKey(tenantID: "t", category: "PREPAYMENT", resourceID: "p")
        setup.fetcher.script(key, Array(repeating: .disconnected("Xero refused access for tenant t (403)"), count: 100))
        setup.fetcher.setConnected(["t"])
        try enqueue(setup.queue, [event(tenant: "t", category: "PREPAYMENT", resource: "p")])
        let recorder = EventRecorder()
        let worker = setup.worker(events: recorder.record)
        for _ in 0..<10 {
            try await passes(worker, 5)
            setup.clock.advance(.seconds(31))
        }
        let paused = recorder.events.filter { if case .paused = $0 { true } else { false } }.count
        let resumed = recorder.events.filter { if case .resumed = $0 { true } else { false } }.count
        #expect(paused <= 1 && resumed == 0, "paused \(paused) times, resumed \(resumed) times in 5 minutes; fetched \(setup.fetcher.calls.count) times")
    }

    /// A state file that cannot be written (a full disk; here an immutable directory) after an
    /// event finished: once writing works again the position must move past it. The finished
    /// runs were taken before the write and lost with it, so the position stayed short for good
    /// and `queue status` said `pending` for ever.
    @Test func aFailedStateWriteDoesNotLoseFinishedEvents() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.script(ResourceKey(tenantID: "b", category: "INVOICE", resourceID: "r2"), [.retryable("500 from Xero", retryAfter: nil)])
        try enqueue(setup.queue, [event(tenant: "a", resource: "r1"), event(tenant: "b", resource: "r2"), event(tenant: "c", resource: "r3")])
        let retried = Mutex(false)
        let worker = setup.worker(events: { if case .retrying = $0 { retried.withLock { $0 = true } } })
        try await worker.pass()
        // The lanes finish on their own: r1 and r3 delivered, r2 waiting for its retry.
        for _ in 0..<2_000 where !(setup.sink.records.count == 2 && retried.withLock { $0 }) {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(setup.sink.records.count == 2)
        let workerDirectory = setup.dir.file("state/worker")
        guard try Binary.runTool("/usr/bin/chattr", ["+i", workerDirectory]) == 0 else {
            print("skipped: chattr +i is not possible here (needs root and a file system with the immutable flag)")
            return
        }
        await #expect(throws: (any Error).self) { try await worker.pass() }
        #expect(try Binary.runTool("/usr/bin/chattr", ["-i", workerDirectory]) == 0)
        #expect(setup.queue.consumerPosition == 1, "the position moved although the state was not written")
        setup.clock.advance(.seconds(3600))  // r2's retry is due
        #expect(try await drive(worker, until: { setup.queue.consumerPosition == 4 }), "position \(setup.queue.consumerPosition)")
        await worker.stop()
    }
}
