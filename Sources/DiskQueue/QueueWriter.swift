import Synchronization
/// The body of the writer thread: takes batches from the `CommitQueue`, commits them through the
/// `SegmentWriter`, and calls every completion exactly once.
///
/// The thread owns the `SegmentWriter` and the `DirectoryLock` and releases both when it stops
/// (after `close()` and once every queued append has been completed).
final class QueueWriter: @unchecked Sendable {
    // @unchecked: `segments` and `lock` are touched only by the writer thread, after `DiskQueue.init`
    // handed them over; `commits` synchronises itself.
    private let commits: CommitQueue
    private let segments: SegmentWriter
    private let lock: DirectoryLock
    private let maxBatchBytes: Int
    private let observer: CommitObserver

    init(commits: CommitQueue, segments: SegmentWriter, lock: DirectoryLock, maxBatchBytes: Int, observer: CommitObserver) {
        self.commits = commits
        self.segments = segments
        self.lock = lock
        self.maxBatchBytes = maxBatchBytes
        self.observer = observer
    }

    func run() {
        while let work = commits.nextWork(maxBatchBytes: maxBatchBytes) {
            switch work {
            case let .reject(appends, error):
                for append in appends { append.completion(.failure(error)) }
            case let .commit(appends):
                commit(appends)
            }
        }
        segments.close()
        lock.release()
        commits.markFinished()
    }

    private func commit(_ appends: [PendingAppend]) {
        do throws(DiskQueueError) {
            let result = try segments.commit(appends)
            commits.committed(result, nextSequence: segments.nextSequence)
            for (append, range) in zip(appends, result.ranges) {
                append.completion(.success(range))
            }
            observer.notify()
        } catch {
            // Never retried: after a failed write or sync the kernel may have dropped the dirty
            // pages, so a later success would not prove these records durable. Only a refusal
            // that left none of the batch on disk (full disk, bounded queue, no descriptor or
            // memory for the next segment) lets writing go on.
            if error.stopsQueue {
                commits.fail(reason: error.description)
            } else {
                commits.refused()
            }
            for append in appends { append.completion(.failure(error)) }
        }
    }
}

/// Who is told that records were committed (the queue's consumer, so it need not poll). Called on
/// the writer thread after the batch's completions; it must not block.
final class CommitObserver: Sendable {
    private let handler = Mutex<(@Sendable () -> Void)?>(nil)

    func set(_ body: @escaping @Sendable () -> Void) { handler.withLock { $0 = body } }

    func notify() { handler.withLock { $0 }?() }
}
