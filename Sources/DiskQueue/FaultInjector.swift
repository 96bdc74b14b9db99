import SystemSupport
/// Named steps where a `FaultInjector` can make I/O fail (or a crash test can kill the process).
package enum FaultPoint: String, Sendable, CaseIterable {
    /// Just before a batch is written to the active segment.
    case beforeWrite
    /// After a batch is written, before its `fdatasync`.
    case afterWriteBeforeSync
    /// After a batch's `fdatasync` returned 0, before any of its completions is called.
    case afterSyncBeforeAck
    /// Before a new segment file is created (an error here is the `open` failing: nothing created).
    case createSegment
    /// After a new segment file is created, before its header is written.
    case writeSegmentHeader
    /// Before a segment file that a shortage left half-created is removed (after a refused
    /// `createSegment` or `writeSegmentHeader`, or at the next creation when that failed too).
    case removeSegmentLeftover
    /// Before zero bytes are written to prepare space ahead of the committed end
    /// (`DiskQueueOptions.preallocationBytes`).
    case prepareSpace
    /// In `setConsumerPosition`, after `consumer.tmp` is written and synced, before it is renamed
    /// over `consumer`.
    case writeConsumerPosition
}

/// Called at each `FaultPoint`. Throwing there makes that step fail as if its system call had
/// failed, with the same consequences:
///
/// - Throw a `SystemCallError` to choose the errno (a `DiskQueueError` passes through as is;
///   anything else becomes `.failed`). ENOSPC or EDQUOT at `beforeWrite`, `createSegment`,
///   `writeSegmentHeader` or `prepareSpace` is a full disk: the batch fails with `.diskFull` and
///   the queue keeps working. EMFILE, ENFILE or ENOMEM at `createSegment` or `writeSegmentHeader`
///   is a shortage of descriptors or memory: the batch fails with `.resourcesExhausted`, the
///   partly created segment is removed, and the queue keeps working.
///   Any other error at those points, and any error at `afterWriteBeforeSync` or
///   `afterSyncBeforeAck` (a failed sync), fails the batch and puts the queue into its failed
///   state; a batch that failed at or after its write is cut off the segment first.
/// - At `writeConsumerPosition`, `setConsumerPosition` throws and the old position stays in
///   force. With ENOSPC or EDQUOT it first deletes the consumed segments and tries once more.
package struct FaultInjector: Sendable {
    private let body: @Sendable (FaultPoint) throws -> Void

    package init(_ body: @escaping @Sendable (FaultPoint) throws -> Void) {
        self.body = body
    }

    /// Runs the hook for `point`, turning whatever it throws into a `DiskQueueError`.
    func fire(_ point: FaultPoint) throws(DiskQueueError) {
        do {
            try body(point)
        } catch let error as DiskQueueError {
            throw error
        } catch let error as SystemCallError {
            throw .system(error)
        } catch {
            throw .failed(reason: "injected fault at \(point.rawValue): \(error)")
        }
    }
}
