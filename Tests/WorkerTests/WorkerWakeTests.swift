import DiskQueue
import Foundation
import Testing
@testable import Worker

/// The worker's loop sleeps until something happens: records committed to the queue, a lane
/// finished, a retry or pause check due. It does not poll the queue.
@Suite struct WakeSignalTests {
    @Test func aSignalBeforeTheWaitIsKept() async {
        let signal = WakeSignal()
        signal.signal()
        signal.signal()  // two signals, one pass
        await signal.wait(timeout: .seconds(3600))
    }

    @Test func aWaitEndsAtTheSignal() async {
        let signal = WakeSignal()
        let waiting = Task { await signal.wait(timeout: .seconds(3600)) }
        // Signals until the waiter has returned: one sent before it waits is kept, so either way
        // the wait ends at a signal, never at the hour-long timeout.
        while true {
            signal.signal()
            let done = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await waiting.value; return true }
                group.addTask { await Task.yield(); return false }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if done { break }
        }
        await waiting.value
    }

    @Test func aWaitEndsAtItsTimeout() async {
        await WakeSignal().wait(timeout: .milliseconds(20))
    }

    @Test func aCancelledWaitEnds() async {
        let signal = WakeSignal()
        let waiting = Task { await signal.wait(timeout: .seconds(3600)) }
        waiting.cancel()
        await waiting.value
    }
}

@Suite struct WorkerWakeTests {
    /// With an hour between polls, a started worker still delivers each event as soon as it is
    /// committed: the queue's commit wakes it.
    @Test func committedRecordsWakeTheWorker() async throws {
        let setup = try WorkerTests.Setup()
        defer { setup.close() }
        let worker = setup.worker { $0.pollInterval = .seconds(3600) }
        await worker.start()
        for count in 1...3 {
            try enqueue(setup.queue, [event(tenant: "t", resource: "r\(count)")])
            // As generous as `drive`: tests running in parallel can hold the concurrency pool's
            // threads for a while; this only bounds a failure.
            let deadline = Date().addingTimeInterval(120)
            while setup.sink.records.count < count && Date() < deadline {
                try await Task.sleep(for: .milliseconds(5))  // checks the outcome; the worker is not waiting for this
            }
            #expect(setup.sink.records.count == count, "event \(count) was not delivered without a poll")
        }
        await worker.stop()
        #expect(setup.queue.consumerPosition == setup.queue.nextSequence, "the position moved over every delivered event at stop")
    }
}
