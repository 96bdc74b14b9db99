import Glibc
import SystemSupport
/// Every way the queue can refuse or fail an operation.
///
/// Closed on purpose: callers map each case to one action (for HTTP: `recordTooLarge` is 413;
/// `diskFull`, `queueFull`, `resourcesExhausted`, `failed`, `closed` and `system` are 503 with
/// `Retry-After`).
package enum DiskQueueError: Error, Equatable, CustomStringConvertible {
    /// Another process (or another `DiskQueue` in this one) holds the directory's lock file.
    case locked(path: String, holder: String?)
    /// A payload is larger than `DiskQueueOptions.maxRecordBytes`; nothing of the call was written.
    case recordTooLarge(size: Int, limit: Int)
    /// The queue hit an I/O error earlier and acknowledges nothing more until it is reopened.
    case failed(reason: String)
    /// `close()` was called; the queue accepts no more appends.
    case closed
    /// A sealed segment holds an invalid record or header (reported by `QueueReader`).
    case corrupt(path: String, offset: Int, reason: String)
    /// A system call failed; the write it belonged to was not acknowledged.
    case system(SystemCallError)
    /// `DiskQueueOptions` holds a value the queue cannot work with.
    case invalidOptions(reason: String)
    /// The file system is (nearly) full: the batch would have gone below
    /// `DiskQueueOptions.minFreeBytes`, or its write failed with ENOSPC or EDQUOT. None of the
    /// batch is acknowledged or left on disk, and the queue keeps working: a later append
    /// succeeds once space is back. The text says which check or call refused it.
    case diskFull(String)
    /// The segment files still on disk plus the batch would pass `DiskQueueOptions.maxQueueBytes`.
    /// Nothing was written; appends succeed again once the consumer position moves past whole segments.
    case queueFull(limit: Int)
    /// The process ran out of file descriptors or memory (EMFILE, ENFILE, ENOMEM) while the
    /// writer opened a file it needed (the next segment). Like `diskFull`, a passing shortage:
    /// none of the batch is acknowledged or left on disk, the queue keeps working, and a later
    /// append succeeds once descriptors or memory are free again, without a restart.
    case resourcesExhausted(SystemCallError)
    /// `setConsumerPosition` was given a sequence outside `allowed` (from the current consumer
    /// position up to the durable next sequence). Nothing changed.
    case invalidPosition(requested: UInt64, allowed: ClosedRange<UInt64>)
    /// The shared queue's database did not commit the batch (cluster mode's postgres queue):
    /// nothing of it is acknowledged, and a later append succeeds once the database answers.
    case unavailable(String)

    package var description: String {
        switch self {
        case let .locked(path, holder):
            let who = holder.map { "process \($0)" } ?? "another process"
            return "queue lock \(path) is held by \(who); stop that process or use another queue directory"
        case let .recordTooLarge(size, limit):
            return "record of \(size) bytes exceeds the limit of \(limit) bytes; reject it or raise maxRecordBytes"
        case let .failed(reason):
            return "queue stopped after an I/O error (\(reason)); check disk space and health, then restart to recover from disk"
        case .closed:
            return "queue is closed; open a new DiskQueue on the directory to append again"
        case let .corrupt(path, offset, reason):
            return "segment \(path) is corrupt at byte \(offset) (\(reason)); open the queue to set the damage aside (its intact records are kept)"
        case let .system(error):
            return error.description
        case let .invalidOptions(reason):
            return "invalid queue options: \(reason)"
        case let .diskFull(reason):
            return "disk full (\(reason)); the batch was not stored; free space on the queue's file system or lower minFreeBytes"
        case let .resourcesExhausted(error):
            return "\(error.description); the batch was not stored; it is accepted again once the process has file descriptors and memory to spare (check LimitNOFILE and the number of open connections)"
        case let .queueFull(limit):
            return "queue holds its limit of \(limit) bytes; nothing was written; let the consumer catch up or raise maxQueueBytes"
        case let .unavailable(reason):
            return "the queue's database did not store the batch (\(reason)); it is accepted again once the database answers"
        case let .invalidPosition(requested, allowed):
            return "consumer position \(requested) is outside \(allowed.lowerBound)...\(allowed.upperBound) (the current position up to the last durable record + 1); nothing changed"
        }
    }

    /// Whether a batch failing with this error puts the queue into its failed state. Only the
    /// refusals made before any byte of the batch is left on disk (`diskFull`, `queueFull`,
    /// `resourcesExhausted`) do not.
    var stopsQueue: Bool {
        switch self {
        case .diskFull, .queueFull, .resourcesExhausted, .unavailable: false
        default: true
        }
    }

    /// A system call failed because the file system or the user's quota is full.
    var isOutOfSpace: Bool {
        guard case let .system(error) = self else { return false }
        return error.errno == ENOSPC || error.errno == EDQUOT
    }

    /// A system call failed for want of a file descriptor (EMFILE: this process's limit; ENFILE:
    /// the system's) or kernel memory (ENOMEM): a shortage that passes, unlike an I/O error.
    var isOutOfResources: Bool {
        guard case let .system(error) = self else { return false }
        return error.errno == EMFILE || error.errno == ENFILE || error.errno == ENOMEM
    }

    /// Whether a failed `open` or write that left nothing behind may be refused for this batch
    /// only: the file system is full or the process is short of descriptors or memory. Never
    /// said of a failed sync (rule 7: that stops the queue whatever the errno).
    var isTransient: Bool { isOutOfSpace || isOutOfResources }

    /// The error a batch is refused with after a transient failure (`isTransient`) that left
    /// nothing on disk: `.diskFull` or `.resourcesExhausted`. Any other error as it is.
    var refusal: DiskQueueError {
        guard case let .system(error) = self else { return self }
        if isOutOfSpace { return .diskFull(error.description) }
        if isOutOfResources { return .resourcesExhausted(error) }
        return self
    }
}

/// Runs steps on a `FileDescriptor` (calls that throw `SystemCallError`), giving their failure
/// the queue's error type: `try system { try file.synchronizeData() }`. (A closure's typed
/// throws is not inferred yet, so the closure is untyped; only `SystemCallError` can come out of
/// the calls it is used for, and anything else would still be reported, as EIO.)
@inline(__always)
func system<T>(_ body: () throws -> T) throws(DiskQueueError) -> T {
    do {
        return try body()
    } catch let error as SystemCallError {
        throw .system(error)
    } catch {
        throw .system(SystemCallError(call: "\(error)", errno: EIO))
    }
}
