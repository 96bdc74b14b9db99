import SystemSupport
/// Every way the queue can refuse or fail an operation.
///
/// Closed on purpose: callers map each case to one action (for HTTP: `recordTooLarge` is 413,
/// `failed`, `closed` and `system` are 503 with `Retry-After`).
public enum DiskQueueError: Error, Equatable, CustomStringConvertible {
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

    public var description: String {
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
            return "segment \(path) is corrupt at byte \(offset) (\(reason)); open the queue to quarantine it, or move the file aside"
        case let .system(error):
            return error.description
        case let .invalidOptions(reason):
            return "invalid queue options: \(reason)"
        }
    }
}
