import ByteJSON
import DiskQueue
import EventRecord
import Foundation
import ResourceFetch
import Synchronization
import TestSupport
import Testing
@testable import Worker

@Suite struct WorkerTests {
    struct Setup {
        let dir: TemporaryDirectory
        let queue: DiskQueue
        let fetcher = ScriptedFetcher()
        let sink = MemorySink()
        let clock = TestClock()

        init() throws {
            dir = try TemporaryDirectory("xero-webhookd-worker")
            queue = try DiskQueue(directory: dir.file("state/queue"))
        }

        func worker(_ configure: (inout WorkerConfiguration) -> Void = { _ in }, events: @escaping @Sendable (WorkerEvent) -> Void = { _ in }) -> Worker {
            var configuration = WorkerConfiguration()
            configure(&configuration)
            let clock = self.clock
            return Worker(queue: queue, fetcher: fetcher, sink: sink, stateDirectory: dir.file("state"),
                          configuration: configuration, now: { clock.now }, random: { 0.5 }, onEvent: events)
        }

        func close() {
            queue.close()
            dir.remove()
        }
    }

    @Test func coalescesEventsOfOneResourceIntoOneFetchAndRecord() async throws {
        let setup = try Setup()
        defer { setup.close() }
        try enqueue(setup.queue, [
            event(tenant: "t1", resource: "a", type: "CREATE"), event(tenant: "t1", resource: "b"),
            event(tenant: "t1", resource: "A", at: "2026-11-29T02:00:00.000"), event(tenant: "t1", resource: "a"),
        ])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().position == 5 })
        #expect(setup.fetcher.calls.count == 1)
        #expect(setup.fetcher.calls[0].count == 2)
        let records = setup.sink.records
        #expect(records.count == 2)
        let a = try #require(records.first { $0.key.resourceID == "a" })
        #expect(a.items.map(\.sequence) == [1, 3, 4])
        let json = try JSONParser.parse(a.json())
        #expect(json["eventIds"]?.arrayValue?.count == 3)
        #expect(json["resource"]?["ID"]?.stringValue == "a")
        #expect(json["notFound"]?.kind == .bool(false))
        #expect(json["category"]?.stringValue == "INVOICE")
        // Acknowledged durably: a new queue on the same directory starts after them.
        #expect(setup.queue.consumerPosition == 5)
    }

    @Test func eventIDIsStableAcrossDuplicates() throws {
        let one = event(tenant: "t", resource: "x")
        #expect(EventID.of(one) == EventID.of(one))
        #expect(EventID.of(one) != EventID.of(event(tenant: "t", resource: "y")))
        #expect(EventID.of(Array(#"{"a":1}"#.utf8)) == "015abd7f5cc57a2dd94b7590f04ad808")
    }

    @Test func retriesWithBackoffAndKeepsAttemptsAcrossRestart() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let key = ResourceKey(tenantID: "t1", category: "INVOICE", resourceID: "r")
        setup.fetcher.script(key, [.retryable("503 from Xero", retryAfter: nil), .retryable("503 from Xero", retryAfter: nil)])
        try enqueue(setup.queue, [event(tenant: "t1", resource: "r")])
        let first = setup.worker()
        #expect(try await drive(first) { await first.currentStatus().retriesScheduled == 1 })
        #expect(setup.sink.records.isEmpty)
        // Not before its time: another pass does not fetch again.
        try await first.pass()
        #expect(setup.fetcher.calls.count == 1)
        // A restart keeps the attempt count and the next-try time.
        let second = setup.worker()
        try await second.pass()
        #expect(setup.fetcher.calls.count == 1)
        setup.clock.advance(.seconds(4))  // backoff after attempt 1 with jitter 0.5: 3.75 s
        #expect(try await drive(second) { setup.fetcher.calls.count == 2 })
        // The fetch is counted before its lane stores the new attempt: wait for the file.
        let retriesFile = setup.dir.file("state/worker/retries.json")
        #expect(try await drive(second) {
            ((try? String(contentsOfFile: retriesFile, encoding: .utf8)) ?? "").contains(#""attempts":2"#)
        })
        setup.clock.advance(.seconds(10))
        #expect(try await drive(second) { setup.sink.records.count == 1 })
        #expect(try await drive(second) { await second.currentStatus().position == 2 })
    }

    /// Every event's resourceUrl is checked, not only the last one's: an odd event is
    /// dead-lettered alone wherever it stands, and its siblings are fetched with a good URL.
    @Test func anEventWithARefusedURLIsDeadLetteredAloneAndItsSiblingsDelivered() async throws {
        let setup = try Setup()
        defer { setup.close() }
        func odd(_ resource: String) -> [UInt8] {
            Array(String(decoding: event(tenant: "t1", resource: resource), as: UTF8.self)
                .replacingOccurrences(of: "https://api.xero.com", with: "https://evil.example").utf8)
        }
        // a: good then odd (the last URL is odd); b: odd then good; c: only odd.
        try enqueue(setup.queue, [event(tenant: "t1", resource: "a"), odd("b"), odd("a"), event(tenant: "t1", resource: "b"), odd("c")])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().position == 6 })
        let records = setup.sink.records
        #expect(Set(records.map(\.key.resourceID)) == ["a", "b"])
        #expect(records.first { $0.key.resourceID == "a" }?.items.map(\.sequence) == [1])
        #expect(records.first { $0.key.resourceID == "b" }?.items.map(\.sequence) == [4])
        #expect(setup.fetcher.calls.joined().allSatisfy { !$0.resourceURL.contains("evil.example") })
        let letters = DeadLetterStore(stateDirectory: setup.dir.file("state")).list()
        #expect(Set(letters.map(\.event)) == [odd("a"), odd("b"), odd("c")])
        #expect(letters.allSatisfy { $0.lastError == "refused: the resourceUrl points to evil.example" })
    }

    @Test func deadLettersAfterMaxAttemptsWhileOtherTenantsFlow() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let bad = ResourceKey(tenantID: "bad", category: "INVOICE", resourceID: "r")
        setup.fetcher.script(bad, Array(repeating: .retryable("500 from Xero", retryAfter: nil), count: 10))
        try enqueue(setup.queue, [event(tenant: "bad", resource: "r"), event(tenant: "good", resource: "g1")])
        let recorder = EventRecorder()
        let worker = setup.worker({ $0.maxAttempts = 3 }, events: recorder.record)
        #expect(try await drive(worker) { setup.sink.records.count == 1 })
        #expect((try #require(setup.sink.records.first)).key.tenantID == "good")
        for _ in 0..<3 {
            setup.clock.advance(.seconds(60))
            _ = try await drive(worker) { await worker.currentStatus().tenantsInFlight == 0 }
        }
        #expect(try await drive(worker) { await worker.currentStatus().position == 3 })
        let letters = DeadLetterStore(stateDirectory: setup.dir.file("state")).list()
        #expect(letters.count == 1)
        #expect(letters.first?.attempts == 3)
        #expect(letters.first?.lastError == "500 from Xero")
        #expect(letters.first?.event == event(tenant: "bad", resource: "r"))
        #expect(recorder.events.contains { if case .deadLettered = $0 { true } else { false } })
    }

    @Test func newerEventWaitsForAnOlderOneOfTheSameResource() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let key = ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "r")
        setup.fetcher.script(key, [.retryable("timeout", retryAfter: nil)])
        try enqueue(setup.queue, [event(tenant: "t", resource: "r", type: "CREATE")])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().retriesScheduled == 1 })
        try enqueue(setup.queue, [event(tenant: "t", resource: "r")])
        for _ in 0..<5 { try await worker.pass() }
        #expect(setup.sink.records.isEmpty, "the newer event must not overtake the older one")
        setup.clock.advance(.seconds(10))
        #expect(try await drive(worker) { setup.sink.records.count == 1 })
        #expect((try #require(setup.sink.records.first)).items.map(\.sequence) == [1, 2])
    }

    @Test func notFoundIsDeliveredAndPermanentIsDeadLettered() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.script(ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "gone"), [.notFound])
        setup.fetcher.script(ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "forbidden"), [.permanent("403: tenant disconnected")])
        try enqueue(setup.queue, [event(tenant: "t", resource: "gone"), event(tenant: "t", resource: "forbidden")])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().position == 3 })
        #expect(setup.sink.records.count == 1)
        let json = try JSONParser.parse((try #require(setup.sink.records.first)).json())
        #expect(json["notFound"]?.kind == .bool(true))
        #expect(json["resource"]?.kind == .null)
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().map(\.lastError) == ["403: tenant disconnected"])
    }

    @Test func pausedCredentialsCountNoAttemptsAndResume() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let key = ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "r")
        setup.fetcher.script(key, [.paused("token expired"), .paused("token expired")])
        try enqueue(setup.queue, [event(tenant: "t", resource: "r")])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().pauses.map(\.reason) == ["token expired"] })
        #expect(await worker.currentStatus().pauses.first?.scope == .credential(name: "organisation"))
        try await worker.pass()
        #expect(setup.fetcher.calls.count == 1, "paused: no fetch until the recheck time")
        setup.clock.advance(.seconds(31))
        #expect(try await drive(worker) { setup.fetcher.calls.count == 2 })
        setup.clock.advance(.seconds(31))
        #expect(try await drive(worker) { setup.sink.records.count == 1 })
        #expect(try await drive(worker) { await worker.currentStatus().pauses.isEmpty })
        #expect(RetryStore(directory: setup.dir.file("state/worker")).states.isEmpty)
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().isEmpty)
    }

    @Test func sinkFailureIsRetriedAndAcknowledgedOnlyAfterAcceptance() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.sink.failNext(1)
        try enqueue(setup.queue, [event(tenant: "t", resource: "r")])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().retriesScheduled == 1 })
        #expect(setup.queue.consumerPosition == 1, "not acknowledged while the sink refused it")
        setup.clock.advance(.seconds(10))
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        #expect(setup.sink.records.count == 1)
    }

    @Test func slowTenantDoesNotHoldUpOthers() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.hold(tenant: "slow")
        try enqueue(setup.queue, [event(tenant: "slow", resource: "s"), event(tenant: "fast", resource: "f")])
        let worker = setup.worker()
        // The worker's own loop: the slow lane stays open across its passes.
        await worker.start()
        #expect(try await waitUntil { setup.sink.records.count == 1 })
        #expect((try #require(setup.sink.records.first)).key.tenantID == "fast")
        // The fast tenant's event is delivered but the position waits for the older slow one.
        #expect(setup.queue.consumerPosition == 1)
        setup.fetcher.release(tenant: "slow")
        #expect(try await waitUntil { await worker.currentStatus().position == 3 })
        await worker.stop()
    }

    @Test func replayedDeadLetterIsQueuedAgainAndDelivered() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.script(ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "r"), [.permanent("403")])
        try enqueue(setup.queue, [event(tenant: "t", resource: "r")])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().deadLettered == 1 })
        let store = DeadLetterStore(stateDirectory: setup.dir.file("state"))
        let id = try #require(store.list().first?.id)
        #expect(try store.replay([id]) == [id])
        #expect(store.list().isEmpty)
        #expect(try await drive(worker) { setup.sink.records.count == 1 })
        #expect((try #require(setup.sink.records.first)).items[0].eventID == EventID.of(event(tenant: "t", resource: "r")))
        #expect(store.pendingReplays().isEmpty)
    }
}

final class EventRecorder: Sendable {
    private let state = Mutex<[WorkerEvent]>([])
    var record: @Sendable (WorkerEvent) -> Void { { event in self.state.withLock { $0.append(event) } } }
    var events: [WorkerEvent] { state.withLock { $0 } }
}

@Suite struct DeadLetterStoreTests {
    @Test func purgeDeletesOnlyTheNamedLetters() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = DeadLetterStore(stateDirectory: dir.path)
        for n in 1...2 {
            let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:00.000Z", eventSequence: nil, event: event(tenant: "t", resource: "r\(n)")).encoded()
            let item = try QueuedItem.decode(QueueRecord(sequence: UInt64(n), payload: queued))
            try store.add(DeadLetter(item: item, attempts: 3, firstAttempt: 1, deadAt: 2, lastError: "500"))
        }
        let ids = store.list().map(\.id)
        #expect(ids.count == 2)
        #expect(try store.purge([ids[0], "no-such-id"]) == [ids[0]])
        #expect(store.list().map(\.id) == [ids[1]])
        #expect(store.get(ids[0]) == nil)
        #expect(store.get(ids[1])?.lastError == "500")
    }
}
