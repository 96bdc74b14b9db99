import DiskQueue
import Foundation
import ResourceFetch
import TestSupport
import Testing
@testable import Worker

/// Bounds on the worker's waits, memory and state files, and pauses read back at start.
@Suite struct WorkerStateBoundsTests {
    typealias Setup = WorkerTests.Setup

    /// A wait whose time lies past `maxAge` (a Retry-After no real limit needs) ends at `maxAge`.
    @Test func aWaitPastMaxAgeEndsAtMaxAge() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let key = ResourceKey(tenantID: "t", category: "INVOICE", resourceID: "r")
        setup.fetcher.script(key, Array(repeating: .waiting("429", retryAfter: .seconds(Int64.max / 4)), count: 2))
        try enqueue(setup.queue, [event(tenant: "t", resource: "r")])
        let worker = setup.worker { $0.maxAge = .seconds(600) }
        let started = setup.clock.now
        #expect(try await drive(worker) { !RetryStore(directory: setup.dir.file("state/worker")).states.isEmpty })
        let state = try #require(RetryStore(directory: setup.dir.file("state/worker")).states.values.first)
        #expect(state.nextTry <= started + 600_000, "next try \(state.nextTry - started) ms away")
        setup.clock.advance(.seconds(601))
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        #expect(DeadLetterStore(stateDirectory: setup.dir.file("state")).list().map(\.lastError) == ["429"])
    }

    /// Durations too long for milliseconds saturate instead of trapping.
    @Test func durationMillisecondsSaturate() {
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect(Duration.seconds(-Int64.max).milliseconds == .min)
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
        #expect(Int64.max.adding(1) == .max)
    }

    /// Pauses in pauses.json with a recheck far away are checked at start: a tenant listed
    /// again resumes, a credential pause lets one fetch through and ends when it works.
    @Test func pausesReadBackAreRecheckedAtStart() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let far = setup.clock.now + 86_400_000
        let saved = [
            Pause(scope: .tenant(id: "back"), reason: "403", since: setup.clock.now - 1000, recheckAt: far),
            Pause(scope: .credential(name: "organisation"), reason: "invalid_grant", since: setup.clock.now - 1000, recheckAt: far),
        ]
        try FileManager.default.createDirectory(atPath: setup.dir.file("state/worker"), withIntermediateDirectories: true)
        try JSONEncoder().encode(saved).write(to: URL(fileURLWithPath: setup.dir.file("state/worker/pauses.json")))
        setup.fetcher.setConnected(["back"])
        try enqueue(setup.queue, [event(tenant: "back", resource: "r1"), event(tenant: "other", resource: "r2")])
        let worker = setup.worker()
        #expect(try await drive(worker) { await worker.currentStatus().position == 3 })
        #expect(await worker.currentStatus().pauses.isEmpty)
        #expect(setup.fetcher.connectionChecks >= 1)
        #expect(Set(setup.sink.records.map(\.key.resourceID)) == ["r1", "r2"])
    }

    /// Events held by a pause do not count against the window, but memory stays bounded:
    /// at most `heldWindows` windows of them are read.
    @Test func heldEventsInMemoryAreBounded() async throws {
        let setup = try Setup()
        defer { setup.close() }
        for index in 0..<40 {
            setup.fetcher.script(ResourceKey(tenantID: "gone", category: "INVOICE", resourceID: "g\(index)"), [.disconnected("403")])
        }
        setup.fetcher.setConnected([])
        try enqueue(setup.queue, (0..<40).map { event(tenant: "gone", resource: "g\($0)") })
        let worker = setup.worker { $0.window = 2 }
        #expect(try await drive(worker) { await !worker.currentStatus().pauses.isEmpty })
        for _ in 0..<50 { try await worker.pass() }
        let pending = await worker.currentStatus().pending
        #expect(pending > 2 && pending <= 2 * Worker.heldWindows, "\(pending) events in memory")
    }

    /// A finished.json the worker cannot use is reported, and its events are delivered.
    @Test func anUnreadableFinishedFileIsReported() async throws {
        let setup = try Setup()
        defer { setup.close() }
        try FileManager.default.createDirectory(atPath: setup.dir.file("state/worker"), withIntermediateDirectories: true)
        try Data("[[1,18446744073709551615],[0,18446744073709551615]]".utf8)
            .write(to: URL(fileURLWithPath: setup.dir.file("state/worker/finished.json")))
        try enqueue(setup.queue, [event(tenant: "a", resource: "r1")])
        let recorder = EventRecorder()
        let worker = setup.worker(events: recorder.record)
        #expect(try await drive(worker) { await worker.currentStatus().position == 2 })
        #expect(setup.sink.records.count == 1)
        #expect(recorder.events.contains { if case .stateIgnored(file: "finished.json", _) = $0 { true } else { false } })
    }

    /// Ranges outside [position, next) are dropped; a range of 2^64 sequences stays one range.
    @Test func finishedFileKeepsOnlyWhatTheQueueCanHave() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = FinishedStore.File(ranges: [[1, 4], [6, 9], [12, UInt64.max]], firstEventIDs: ["a", "b", "c"])
        try JSONEncoder().encode(file).write(to: URL(fileURLWithPath: dir.file("finished.json")))
        let loaded = FinishedStore.load(path: dir.file("finished.json"), position: 5, next: 20)
        #expect(loaded.runs == [.init(first: 6, last: 9, firstEventID: "b"), .init(first: 12, last: 19, firstEventID: "c")])
        var ranges = FinishedRanges()
        for sequence: UInt64 in [5, 7, 6, 9, 8] { ranges.insert(sequence, eventID: "e\(sequence)") }
        #expect(ranges.runs == [.init(first: 5, last: 9, firstEventID: "e5")])
        #expect(ranges.takeRun(startingAt: 5) == 10)
        #expect(ranges.isEmpty)
    }

    /// Retry states the queue cannot have are forgotten at start.
    @Test func retryStatesOutsideTheQueueAreDropped() {
        var store = RetryStore(directory: "/nonexistent")
        for sequence: UInt64 in [1, 5, 9] {
            store[sequence] = RetryState(attempts: 1, firstAttempt: 0, nextTry: 0, lastError: "x")
        }
        #expect(store.keep(from: 2, below: 9) == 2)
        #expect(Array(store.states.keys) == [5])
    }
}
