import Foundation
import Synchronization
import Testing
@testable import DiskQueue

@Suite struct GroupCommitTests {
    @Test func concurrentAppendersShareSyncs() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            let threads = 64
            let perThread = 50
            let completions = Completions()
            let finished = DispatchSemaphore(value: 0)
            let handler = completions.handler
            // Each thread is a sender that waits for its acknowledgement before sending the next
            // one, so any batching comes from concurrency alone.
            for thread in 0..<threads {
                Thread {
                    let acknowledged = DispatchSemaphore(value: 0)
                    for index in 0..<perThread {
                        queue.append([payload(thread * 1000 + index)]) { result in
                            handler(result)
                            acknowledged.signal()
                        }
                        if acknowledged.wait(timeout: .now() + 60) == .timedOut { break }
                    }
                    finished.signal()
                }.start()
            }
            #expect(completions.wait(for: threads * perThread))
            for _ in 0..<threads { #expect(finished.wait(timeout: .now() + 60) == .success) }

            let ranges = try completions.all.map { try $0.get() }
            let sequences = ranges.flatMap { Array($0) }.sorted()
            #expect(ranges.allSatisfy { $0.count == 1 })
            #expect(sequences == Array(1...UInt64(threads * perThread)))
            let stats = queue.stats
            #expect(stats.records == UInt64(threads * perThread))
            #expect(stats.syncs < UInt64(threads * perThread))
            #expect(stats.syncs > 0)
            queue.close()

            let records = try QueueReader.records(in: base)
            #expect(records.count == threads * perThread)
            let expected = Set((0..<threads).flatMap { thread in (0..<perThread).map { payload(thread * 1000 + $0) } })
            #expect(Set(records.map(\.payload)) == expected)
        }
    }

    @Test func batchesRespectMaxBatchBytes() throws {
        try withTemporaryDirectory { base in
            let gate = WriterGate()
            let queue = try DiskQueue(directory: base, options: .init(maxBatchBytes: 400, faults: gate.injector))
            let completions = Completions()
            queue.append([payload(0)], completion: completions.handler)
            #expect(gate.waitUntilHeld())
            // Queued while the writer is held: 20 appends of 16 + 84 = 100 encoded bytes each.
            for index in 1...20 {
                queue.append([payload(index, size: 84)], completion: completions.handler)
            }
            gate.release()
            #expect(completions.wait(for: 21))
            #expect(completions.all.allSatisfy { (try? $0.get()) != nil })
            // One sync for the first append, then 20 × 100 bytes in batches of at most 400 bytes.
            #expect(queue.stats.syncs == 6)
            queue.close()
        }
    }

    @Test func closeFromACompletionDoesNotDeadlock() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base)
            let completions = Completions()
            queue.append([payload(1)]) { result in
                queue.close()
                completions.handler(result)
            }
            #expect(completions.wait(for: 1))
            queue.close()  // waits for the writer to finish
            #expect(throws: DiskQueueError.closed) { try queue.append([payload(2)]) }
            // The lock was released: the directory opens again.
            let reopened = try DiskQueue(directory: base)
            #expect(reopened.nextSequence == 2)
            reopened.close()
        }
    }

    @Test func droppingTheQueueReleasesTheLock() throws {
        try withTemporaryDirectory { base in
            do {
                let queue = try DiskQueue(directory: base)
                _ = try queue.append([payload(1)])
            }
            let reopened = try DiskQueue(directory: base)
            #expect(reopened.recovery.records == 1)
            reopened.close()
        }
    }
}

/// Holds the writer inside its first `beforeWrite` until released, so a test can queue work
/// behind a batch that is known to be in progress.
final class WriterGate: Sendable {
    private let held = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)
    private let first = Mutex(true)

    var injector: FaultInjector {
        FaultInjector { point in
            self.hold(at: point)
        }
    }

    /// Blocks the calling (writer) thread the first time it reaches `beforeWrite`.
    func hold(at point: FaultPoint) {
        guard point == .beforeWrite else { return }
        let isFirst = first.withLock { value -> Bool in
            defer { value = false }
            return value
        }
        guard isFirst else { return }
        held.signal()
        _ = released.wait(timeout: .now() + 60)
    }

    func waitUntilHeld() -> Bool {
        held.wait(timeout: .now() + 60) == .success
    }

    func release() {
        released.signal()
    }
}
