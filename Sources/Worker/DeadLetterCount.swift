import Synchronization
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// How many letters (`<id>.json`) the dead-letter directory holds, kept in memory so that
/// reading it (`/metrics`, at every scrape) costs one `stat`, not a listing.
///
/// Listed once at the first `value`; `DeadLetterStore`'s `add`, `purge` and `replay` adjust it as
/// they change the directory. Another process changes it too (`xero-webhookd dead purge|replay`),
/// so each `value` compares the directory's stamp (device, inode, mtime) with the one taken
/// before the last listing, and lists the names again (no file is read) when it differs: after
/// any change, own or not, the next read lists once; while nothing changes, none does. A listing
/// taken while the mtime was less than a second old does not vouch for the next read either: a
/// change in the same timestamp tick leaves the mtime as it was (git's "racily clean" entries).
/// When a listing fails, the kept count stands and the next read lists again.
final class DeadLetterCount: Sendable {
    private struct State {
        var count = 0
        /// The directory's stamp before the listing `count` came from; nil: the next read lists.
        var listed: Stamp?
    }

    /// What changes when an entry of the directory is created, renamed or removed.
    private enum Stamp: Equatable {
        case missing
        case present(device: UInt64, inode: UInt64, seconds: Int, nanoseconds: Int)
    }

    private let directory: String
    private let state = Mutex(State())

    init(directory: String) {
        self.directory = directory
    }

    /// The number of letters in the directory now (0 when it does not exist).
    var value: Int {
        let stamp = Self.stamp(of: directory)
        if let stamp, let count = state.withLock({ $0.listed == stamp ? $0.count : nil }) { return count }
        // The stamp is taken before the names are read: a change during the listing makes the
        // next read list again.
        guard let stamp, let names = Self.names(in: directory, missingIsEmpty: stamp == .missing) else {
            return state.withLock { state in
                state.listed = nil
                return state.count
            }
        }
        let count = names.reduce(0) { $1.hasSuffix(".json") ? $0 + 1 : $0 }
        let trusted = Self.isSettled(stamp)
        state.withLock { state in
            state.count = count
            state.listed = trusted ? stamp : nil
        }
        return count
    }

    /// Adds `delta` for letters this process stored (+) or removed (−).
    func adjust(by delta: Int) {
        guard delta != 0 else { return }
        state.withLock { $0.count = max(0, $0.count + delta) }
    }

    private static func stamp(of directory: String) -> Stamp? {
        var info = stat()
        guard stat(directory, &info) == 0 else { return errno == ENOENT ? .missing : nil }
        return .present(device: UInt64(info.st_dev), inode: UInt64(info.st_ino),
                        seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
    }

    /// Whether `stamp`'s mtime is at least a second old by the wall clock: any later change then
    /// gets another mtime. A clock set back makes it look new, which only costs a listing.
    private static func isSettled(_ stamp: Stamp) -> Bool {
        guard case let .present(_, _, seconds, nanoseconds) = stamp else { return true }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let mtime = Int64(seconds) * 1_000_000_000 + Int64(nanoseconds)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - mtime >= 1_000_000_000
    }

    /// Entry names, or nil when the directory cannot be read.
    private static func names(in directory: String, missingIsEmpty: Bool) -> [String]? {
        guard let stream = opendir(directory) else { return missingIsEmpty && errno == ENOENT ? [] : nil }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else { return errno == 0 ? names : nil }
            let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            names.append(name)
        }
    }
}
