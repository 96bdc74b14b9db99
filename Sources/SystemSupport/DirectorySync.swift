import Glibc
import Synchronization

/// Makes changes to directory entries durable: the one place that creates state directories
/// and fsyncs directories.
///
/// A new entry (a directory from `mkdir`, a created file, a rename, an unlink) is on disk only
/// once the directory holding it is fsynced; the file's own fsync does not cover its name.
/// So every directory the daemon creates has its parent synced before anything goes into it,
/// and every rename that matters is followed by a sync of the directories involved.
///
/// Every failure is a `SystemCallError` naming the call (`mkdir`, `open`, `fsync`, `rename`,
/// `stat`), its errno and the path. Nothing here retries a failed fsync.
package enum DirectorySync {
    /// Creates `path` and every missing directory above it, each with `mode` (less the umask), and
    /// fsyncs the parent of each one it creates, top down, so each new directory survives a
    /// crash before anything is created in it. A directory that exists is left as it is (its mode
    /// too). A component that exists and is not a directory fails with `mkdir` and ENOTDIR.
    package static func makeDirectory(at path: String, mode: mode_t) throws(SystemCallError) {
        let path = trimmingTrailingSlashes(path)
        guard try !makeOne(path, mode: mode) else { return }
        let above = parent(of: path)
        guard above != path, !path.isEmpty else { throw SystemCallError(call: "mkdir", errno: ENOENT, path: path) }
        try makeDirectory(at: above, mode: mode)
        guard try !makeOne(path, mode: mode) else { return }
        // The parent exists now, yet mkdir still says ENOENT: it was removed meanwhile.
        throw SystemCallError(call: "mkdir", errno: ENOENT, path: path)
    }

    /// fsyncs `directory`, so entries created, renamed or removed in it survive a crash.
    package static func synchronize(directory: String) throws(SystemCallError) {
        var fd: Int32
        repeat {
            fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .last("open", path: directory) }
        defer { close(fd) }
        try synchronize(descriptor: fd, path: directory)
    }

    /// fsyncs the directory open as `descriptor` (owned by the caller, which keeps it open: the
    /// queue writer must not need a new descriptor to make a new segment's name durable).
    /// `path` names it in errors and to observers.
    package static func synchronize(descriptor: Int32, path: String) throws(SystemCallError) {
        guard fsync(descriptor) == 0 else { throw .last("fsync", path: path) }
        notify(.synchronized(path))
    }

    /// `rename(from, to)`, then fsyncs the directory of `to`, and that of `from` when it differs,
    /// so neither the new name nor the old one's removal can be lost in a crash.
    package static func rename(_ from: String, to: String) throws(SystemCallError) {
        guard Glibc.rename(from, to) == 0 else { throw .last("rename", path: from) }
        let target = parent(of: to)
        try synchronize(directory: target)
        let source = parent(of: from)
        if source != target { try synchronize(directory: source) }
    }

    /// The directory part of `path`: `.` for a bare name, `/` for a name at the root.
    package static func parent(of path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    /// One `mkdir`; on success the parent is fsynced. Returns true when `path` is a directory
    /// afterwards, false when its parent is missing.
    private static func makeOne(_ path: String, mode: mode_t) throws(SystemCallError) -> Bool {
        if mkdir(path, mode) == 0 {
            notify(.created(path))
            try synchronize(directory: parent(of: path))
            return true
        }
        let error = SystemCallError.last("mkdir", path: path)
        switch error.errno {
        case EEXIST:
            var info = stat()
            guard stat(path, &info) == 0 else { throw .last("stat", path: path) }
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw SystemCallError(call: "mkdir", errno: ENOTDIR, path: path) }
            return true
        case ENOENT:
            return false
        default:
            throw error
        }
    }

    private static func trimmingTrailingSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}

// MARK: - Observing, for tests

extension DirectorySync {
    /// What `DirectorySync` did, in order, as seen by an observer.
    package enum Event: Equatable, Sendable {
        /// `mkdir` created this directory (its parent's sync follows).
        case created(String)
        /// This directory was fsynced.
        case synchronized(String)
    }

    /// Registers `observer` for every event from now on, on the thread that caused it, until
    /// `stopObserving` with the returned token. For tests that prove a caller makes its
    /// directory changes durable; events from unrelated threads arrive too, so filter by path.
    package static func observe(_ observer: @escaping @Sendable (Event) -> Void) -> Int {
        observers.withLock { state in
            state.next += 1
            state.observers[state.next] = observer
            return state.next
        }
    }

    package static func stopObserving(_ token: Int) {
        _ = observers.withLock { $0.observers.removeValue(forKey: token) }
    }

    private static let observers = Mutex<(next: Int, observers: [Int: @Sendable (Event) -> Void])>((0, [:]))

    private static func notify(_ event: Event) {
        let current = observers.withLock { Array($0.observers.values) }
        for observer in current { observer(event) }
    }
}

extension DirectorySync {
    /// Records the events for `root` and the paths under it, from `init` until it is released:
    /// a test's view of one caller's directory work, whatever other tests do meanwhile.
    package final class Recorder: Sendable {
        private let seen: Mutex<[Event]>
        private let token: Mutex<Int?>

        package init(under root: String) {
            seen = Mutex([])
            token = Mutex(nil)
            let prefix = root.hasSuffix("/") ? root : root + "/"
            let registered = DirectorySync.observe { [weak self] event in
                let path: String
                switch event {
                case let .created(name), let .synchronized(name): path = name
                }
                guard path == root || path.hasPrefix(prefix) else { return }
                self?.seen.withLock { $0.append(event) }
            }
            token.withLock { $0 = registered }
        }

        deinit {
            if let registered = token.withLock({ $0 }) { DirectorySync.stopObserving(registered) }
        }

        /// Every event so far, in order.
        package var events: [Event] { seen.withLock { $0 } }

        /// The events so far, forgetting them: what the next step adds starts from none.
        package func take() -> [Event] { seen.withLock { events in defer { events = [] }; return events } }
    }
}
