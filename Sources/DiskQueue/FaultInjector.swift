import SystemSupport
/// Named steps of the write path where a `FaultInjector` can make I/O fail.
public enum FaultPoint: String, Sendable, CaseIterable {
    /// Just before a batch is written to the active segment.
    case beforeWrite
    /// After a batch is written, before its `fdatasync`.
    case afterWriteBeforeSync
    /// Before a new segment file is created.
    case createSegment
}

/// Called by the writer at each `FaultPoint`. Throwing there makes that I/O step fail as if its
/// system call had failed (for example with EIO or ENOSPC), with the same consequences: the batch
/// is not acknowledged and the queue enters its failed state.
public struct FaultInjector: Sendable {
    private let body: @Sendable (FaultPoint) throws -> Void

    public init(_ body: @escaping @Sendable (FaultPoint) throws -> Void) {
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
