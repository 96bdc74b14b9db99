import Glibc

/// Replaces small files atomically and durably, for the state files outside the queue (dead
/// letters, retry state, the Xero token file): a crash leaves the old content or the new one.
package enum AtomicFile {
    /// Writes `bytes` to a new temporary file beside `path` (created exclusively with `mode`,
    /// which a narrower umask does not change), fsyncs it, renames it over `path` and fsyncs the
    /// directory (`DirectorySync`). On an error before the rename the temporary file is removed
    /// and `path` is untouched.
    package static func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws(SystemCallError) {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .last("open", path: temporary) }
        var failure: SystemCallError?
        if fchmod(fd, mode) != 0 { failure = .last("fchmod", path: temporary) }
        var offset = 0
        while failure == nil && offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { failure = .last("write", path: temporary) }
        }
        if failure == nil && fsync(fd) != 0 { failure = .last("fsync", path: temporary) }
        if close(fd) != 0 && failure == nil && errno != EINTR { failure = .last("close", path: temporary) }
        if failure == nil && rename(temporary, path) != 0 { failure = .last("rename", path: path) }
        if let failure {
            unlink(temporary)
            throw failure
        }
        try DirectorySync.synchronize(directory: DirectorySync.parent(of: path))
    }
}
