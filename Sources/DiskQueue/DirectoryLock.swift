import Glibc
import SystemSupport

/// The exclusive `flock` on `<directory>/lock` that keeps two writers off one queue.
///
/// Holds the lock file's descriptor for as long as it lives; `release()` (or `deinit`) closes it,
/// which drops the lock. The file holds the owner's pid, so a refused opener can name it.
/// Used by one thread at a time: `DiskQueue.init`, then the writer thread when it shuts down.
final class DirectoryLock {
    static let fileName = "lock"

    private let file: FileDescriptor

    /// Takes the lock without blocking; throws `.locked` with the holder's pid when it is taken.
    init(directory: String) throws(DiskQueueError) {
        let path = QueueDirectory.path(directory, DirectoryLock.fileName)
        let file = try system { try FileDescriptor.open(path, flags: O_RDWR | O_CREAT) }
        guard try DirectoryLock.acquire(file) else {
            throw .locked(path: path, holder: DirectoryLock.holder(of: file))
        }
        try system { try file.truncate(to: 0) }
        try system { try file.write(Array("\(getpid())\n".utf8), at: 0) }
        self.file = file
    }

    /// Tries for up to a second. A lock is held by an open file description, and a child being
    /// spawned by another thread of the releasing process (posix_spawn copies the descriptor
    /// table, then closes the copies at exec) can keep a just-released lock alive for a moment.
    /// A real second daemon holds it for longer and is refused.
    private static func acquire(_ file: FileDescriptor) throws(DiskQueueError) -> Bool {
        for _ in 0..<100 {
            if (try system { try file.tryLockExclusive() }) { return true }
            usleep(10_000)
        }
        return try system { try file.tryLockExclusive() }
    }

    func release() {
        file.close()
    }

    /// The pid written by the holder, or nil if it has not written one (yet).
    private static func holder(of file: FileDescriptor) -> String? {
        // Best effort: the pid only improves the error message, so a failed read leaves it out.
        guard let bytes = try? file.read(count: 32, at: 0) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0.isWhitespace }).first
        return text.map(String.init)
    }
}
