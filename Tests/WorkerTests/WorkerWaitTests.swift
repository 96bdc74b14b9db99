import DiskQueue
import Foundation
import ResourceFetch
import TestSupport
import Testing
@testable import Worker

/// Waiting is not failing, pauses hold back only what needs them, finished work stays finished.
@Suite struct WorkerWaitTests {
    typealias Setup = WorkerTests.Setup

    func subscription(_ id: String) -> [UInt8] {
        Array(#"{"resourceUrl":"https://api.xero.com/appstore/2.0/subscriptions/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:00:00.000","eventType":"UPDATE","eventCategory":"SUBSCRIPTION","tenantId":"app","tenantType":"APPLICATION"}"#.utf8)
    }

    /// Five waits (429s) with `maxAttempts` 3: delivered, no attempt counted, nothing dead.
    @Test func waitsCountNoAttempts() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let key = ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "r")
        setup.fetcher.script(key, Array(repeating: .waiting("Xero rate limit reached (minute)", retryAfter: .seconds(1)), count: 5))
        try enqueue(setup.queue, [event(tenant: "t", resource: "r")])
        let recorder = EventRecorder()
        let worker = setup.worker({ $0.maxAttempts = 3 }, events: recorder.record)
        for call in 1...5 {
            #expect(try await drive(worker) {
                let idle = await worker.currentStatus().tenantsInFlight == 0
                return idle && setup.fetcher.calls.count == call
            })
            let state = try #require(await worker.retries[1])
            #expect(state.attempts == 0)
            #expect(state.nextTry == setup.clock.now + 1000, "Xero's Retry-After sets the next try")
            try await worker.pass()
            #expect(setup.fetcher.calls.count == call, "not before Retry-After")
            setup.clock.advance(.seconds(1))
        }
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        #expect(setup.sink.records.count == 1)
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().isEmpty)
        #expect(recorder.events.filter { if case .waiting = $0 { true } else { false } }.count == 5)
        #expect(!recorder.events.contains { if case .retrying = $0 { true } else { false } })
    }

    /// Only `maxAge` ends an event that keeps waiting; its dead letter says 0 attempts.
    @Test func maxAgeEndsAnEventThatKeepsWaiting() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let key = ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "r")
        setup.fetcher.script(key, Array(repeating: .waiting("token endpoint unavailable", retryAfter: nil), count: 100))
        try enqueue(setup.queue, [event(tenant: "t", resource: "r")])
        let worker = setup.worker { $0.maxAttempts = 1; $0.maxAge = .seconds(600) }
        for _ in 0..<12 {
            _ = try await drive(worker) { await worker.currentStatus().tenantsInFlight == 0 }
            setup.clock.advance(.seconds(61))  // past the longest wait without a time (60 s)
        }
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        let letters = DeadLetterStore(stateDirectory: setup.dir.file("state")).list()
        #expect(letters.map(\.lastError) == ["token endpoint unavailable"])
        #expect(letters.first?.attempts == 0)
        #expect(setup.fetcher.calls.count >= 10, "tried again all along (\(setup.fetcher.calls.count))")
        // A wait without a time backs off: at most one try per 61 s step, never a try per pass.
        #expect(setup.fetcher.calls.count <= 13, "tried \(setup.fetcher.calls.count) times in 12 steps")
        #expect(setup.sink.records.isEmpty)
    }

    /// A paused billing credential holds back only SUBSCRIPTION events: invoices of other
    /// organisations are delivered at once, and the pause is named (status, pauses.json) until
    /// a fetch that needs it works again.
    @Test func pausedCredentialHoldsBackOnlyWhatNeedsIt() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let billing = ResourceKey(tenantID: "app", category: "SUBSCRIPTION", resourceID: "s1")
        setup.fetcher.script(billing, [.paused("invalid_scope"), .paused("invalid_scope")])
        try enqueue(setup.queue, [subscription("s1")])
        let recorder = EventRecorder()
        let worker = setup.worker(events: recorder.record)
        #expect(try await drive(worker) { await !worker.currentStatus().pauses.isEmpty })
        try enqueue(setup.queue, ["t1", "t2", "t3"].map { event(tenant: $0, resource: "inv-\($0)") })
        #expect(try await drive(worker) { setup.sink.records.count == 3 }, "no clock advance: delivered at once")
        #expect(setup.fetcher.calls(of: billing) == 1)
        let pause = try #require(await worker.currentStatus().pauses.first)
        #expect(pause.scope == .credential(name: "billing"))
        #expect(pause.reason == "invalid_scope")
        #expect(try await drive(worker) { (try? QueueStatus.read(stateDirectory: setup.dir.file("state")))?.pauses == [pause] })
        #expect(!recorder.events.contains(.resumed(.credential(name: "billing"))), "other lanes do not end the pause")
        // Rechecked after 30 s: one fetch, still refused, still paused; then it works.
        setup.clock.advance(.seconds(31))
        #expect(try await drive(worker) { setup.fetcher.calls(of: billing) == 2 })
        #expect(try await drive(worker) { await worker.currentStatus().tenantsInFlight == 0 })
        #expect(await worker.currentStatus().pauses.count == 1)
        setup.clock.advance(.seconds(31))
        #expect(try await drive(worker) { await worker.currentStatus().position == 5 })
        #expect(await worker.currentStatus().pauses.isEmpty)
        #expect(recorder.events.contains(.resumed(.credential(name: "billing"))))
        #expect(try await drive(worker) { (try? QueueStatus.read(stateDirectory: setup.dir.file("state")))?.pauses == [] })
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().isEmpty)
    }

    /// A fetch already in flight when the organisation token was paused (`invalid_grant`) ends
    /// well: that proves nothing about the pause, which stays until a later fetch works.
    @Test func aLaneStartedBeforeThePauseDoesNotEndIt() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.hold(tenant: "a")
        setup.fetcher.script(ResourceKey(tenantID: "b", category: "INVOICE", resourceID: "rb"), [.paused("invalid_grant")])
        try enqueue(setup.queue, [event(tenant: "a", resource: "ra"), event(tenant: "b", resource: "rb")])
        let recorder = EventRecorder()
        let worker = setup.worker(events: recorder.record)
        // The worker's own loop: the held lane stays open across its passes.
        await worker.start()
        #expect(try await waitUntil { await !worker.currentStatus().pauses.isEmpty })
        setup.fetcher.release(tenant: "a")
        #expect(try await waitUntil { setup.sink.records.count == 1 })
        #expect(try await waitUntil { await worker.currentStatus().tenantsInFlight == 0 })
        #expect(await worker.currentStatus().pauses.map(\.reason) == ["invalid_grant"])
        #expect(!recorder.events.contains(.resumed(.credential(name: "organisation"))))
        setup.clock.advance(.seconds(31))
        #expect(try await waitUntil { await worker.currentStatus().position == 3 })
        #expect(recorder.events.contains(.resumed(.credential(name: "organisation"))))
        await worker.stop()
    }

    /// A 403 (disconnected tenant) pauses that tenant, not the event; `/connections` is asked
    /// every recheck and on `recheckPauses()` (SIGHUP); listed again, the tenant resumes.
    @Test func disconnectedTenantPausesUntilListedAgain() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let gone = ResourceKey(tenantID: "gone", category: "INVOICE", resourceID: "g")
        setup.fetcher.script(gone, [.disconnected("Xero refused access for tenant gone (403)")])
        setup.fetcher.setConnected(["ok"])
        try enqueue(setup.queue, [event(tenant: "gone", resource: "g"), event(tenant: "ok", resource: "o")])
        let worker = setup.worker { $0.maxAttempts = 1 }
        #expect(try await drive(worker) { setup.sink.records.count == 1 })
        #expect(setup.sink.records.first?.key.tenantID == "ok")
        #expect(try await drive(worker) { await worker.currentStatus().pauses.map(\.scope) == [.tenant(id: "gone")] })
        try enqueue(setup.queue, [event(tenant: "gone", resource: "g2")])
        for _ in 0..<5 { try await worker.pass() }
        #expect(setup.fetcher.calls.count == 2, "a paused tenant is not fetched")
        #expect(setup.fetcher.connectionChecks == 1, "the 403 is checked against /connections once")
        setup.clock.advance(.seconds(31))
        #expect(try await drive(worker) { setup.fetcher.connectionChecks == 2 })
        for _ in 0..<5 { try await worker.pass() }
        #expect(setup.fetcher.calls.count == 2, "still not listed: still paused")
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().isEmpty)
        setup.fetcher.setConnected(["ok", "gone"])
        await worker.recheckPauses()
        #expect(try await drive(worker) { await worker.currentStatus().position == 4 })
        #expect(Set(setup.sink.records.map(\.key.resourceID)) == ["o", "g", "g2"])
        #expect(await worker.currentStatus().pauses.isEmpty)
    }

    /// A tenant that stays disconnected: its events are dead-lettered at `maxAge`, not before.
    @Test func disconnectedTenantsEventsDieOnlyAtMaxAge() async throws {
        let setup = try Setup()
        defer { setup.close() }
        setup.fetcher.script(ResourceKey(tenantID: "gone", category: "INVOICE", resourceID: "g"), [.disconnected("403")])
        setup.fetcher.setConnected([])
        try enqueue(setup.queue, [event(tenant: "gone", resource: "g")])
        let worker = setup.worker { $0.maxAge = .seconds(120) }
        #expect(try await drive(worker) { await !worker.currentStatus().pauses.isEmpty })
        #expect(setup.fetcher.connectionChecks == 1, "the 403 is checked against /connections once")
        setup.clock.advance(.seconds(61))
        #expect(try await drive(worker) { setup.fetcher.connectionChecks == 2 })
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().isEmpty)
        setup.clock.advance(.seconds(61))
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().map(\.lastError) == ["403"])
        #expect(setup.fetcher.calls.count == 1)
    }

    /// Events delivered above a position held back by an older one are not fetched or delivered
    /// again after a restart.
    @Test func finishedEventsAboveThePositionStayFinishedAcrossRestart() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let first = ResourceKey(tenantID: "a", category: "INVOICE", resourceID: "r1")
        setup.fetcher.script(first, [.retryable("500 from Xero", retryAfter: nil)])
        try enqueue(setup.queue, [event(tenant: "a", resource: "r1"), event(tenant: "b", resource: "r2"), event(tenant: "c", resource: "r3")])
        let before = setup.worker()
        #expect(try await drive(before) { setup.sink.records.count == 2 })
        #expect(try await drive(before) { finishedRanges(setup.dir.file("state/worker/finished.json")) == [[2, 3]] })
        #expect(setup.queue.consumerPosition == 1)
        #expect(try QueueStatus.read(stateDirectory: setup.dir.file("state")).pending == 1, "2 and 3 are finished")
        let after = setup.worker()  // a restart
        setup.clock.advance(.seconds(60))
        #expect(try await drive(after) { await after.currentStatus().position == 4 })
        #expect(setup.sink.records.count == 3)
        #expect(setup.sink.records.last?.key.resourceID == "r1")
        #expect(setup.fetcher.calls(of: ResourceKey(tenantID: "b", category: "INVOICE", resourceID: "r2")) == 1)
        #expect(setup.fetcher.calls(of: ResourceKey(tenantID: "c", category: "INVOICE", resourceID: "r3")) == 1)
        #expect(try await drive(after) { finishedRanges(setup.dir.file("state/worker/finished.json")) == [] })
    }
}
