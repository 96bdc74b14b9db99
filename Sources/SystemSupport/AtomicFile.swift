import Glibc

/// Replaces small files atomically and durably, for the state files (dead letters, retry state,
/// the Xero token file, the queue's consumer position): a crash leaves the old content or the
/// new one.
///
/// The steps, each return code checked: write a temporary file beside the target, fsync it,
/// rename it over the target, fsync the directory (`DirectorySync`). Every failure is a
/// `SystemCallError` with the call's errno and the path it acted on; a failed fsync is never
/// retried. On an error before the rename the temporary file is removed and the target is
/// untouched.
package enum AtomicFile {
    /// Writes `bytes` to `path` through a temporary file (see `AtomicFile`).
    /// - Parameters:
    ///   - mode: the new file's permissions, set with `fchmod` so a narrower umask does not
    ///     change them.
    ///   - temporary: the temporary file's path, in the same directory. By default a new name
    ///     (`<path>.tmp-<pid>-<random>`) created exclusively, so concurrent writers from several
    ///     processes never share one. A fixed name (which recovery can find and remove after a
    ///     crash) is removed first if a crash left it; its callers serialise their writers.
    package static func replace(_ path: String, with bytes: [UInt8], mode: mode_t, temporary: String? = nil) throws(SystemCallError) {
        try stage(path, with: bytes, mode: mode, temporary: temporary).commit()
    }

    /// The first half of `replace`: the temporary file written and fsynced, not yet renamed, so
    /// a caller can do a step between the two halves. Then either `commit()` or `discard()`.
    package static func stage(_ path: String, with bytes: [UInt8], mode: mode_t, temporary: String? = nil) throws(SystemCallError) -> Staged {
        let temporaryPath = temporary ?? "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Always a new file, never one found at the name: a fixed name a crash left (or a
        // symbolic link planted there) is removed first, so nothing it points to is written.
        if temporary != nil { _ = unlink(temporaryPath) }
        let file = try FileDescriptor.open(temporaryPath, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do throws(SystemCallError) {
            try file.setMode(mode)
            try file.write(bytes, at: 0)
            try file.synchronize()
            try file.closeReportingError()
        } catch {
            file.close()
            // Best effort: the error that matters is the one above; a leftover temporary file
            // changes nothing (a fixed name is removed next time, or by recovery).
            _ = unlink(temporaryPath)
            throw error
        }
        return Staged(path: path, temporary: temporaryPath)
    }

    /// A temporary file written and fsynced by `stage`, waiting to replace `path`. Used once.
    package struct Staged: ~Copyable {
        /// The file it replaces.
        package let path: String
        /// Where its bytes are now.
        package let temporary: String

        /// Renames the temporary file over `path`, then fsyncs the directory. When the rename
        /// fails, the temporary file is removed and `path` is untouched; when the directory sync
        /// fails, the new file is in place but may not survive a crash.
        package consuming func commit() throws(SystemCallError) {
            guard rename(temporary, path) == 0 else {
                let error = SystemCallError.last("rename", path: temporary)
                _ = unlink(temporary)  // best effort, as in `stage`
                throw error
            }
            try DirectorySync.synchronize(directory: DirectorySync.parent(of: path))
        }

        /// Removes the temporary file; `path` is untouched. Best effort: a leftover changes nothing.
        package consuming func discard() {
            _ = unlink(temporary)
        }
    }
}
