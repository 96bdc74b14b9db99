import Glibc

/// Owns one open file descriptor (always opened with `O_CLOEXEC`) and closes it exactly once:
/// in `close()` or, if that was never called, in `deinit`.
///
/// Not synchronised: each instance is used by one thread at a time (its owner says which).
/// Every failure is a `SystemCallError` built right after the call.
package final class FileDescriptor {
    /// The path it was opened with, for error messages.
    package let path: String
    private var raw: Int32

    private init(raw: Int32, path: String) {
        self.raw = raw
        self.path = path
    }

    deinit {
        close()
    }

    /// Opens `path` with `flags | O_CLOEXEC`, retrying EINTR.
    package static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(SystemCallError) -> FileDescriptor {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return FileDescriptor(raw: fd, path: path) }
            let error = SystemCallError.last("open", path: path)
            if error.errno != EINTR { throw error }
        }
    }

    /// Opens a directory read-only, for `fsync` of its entries.
    package static func openDirectory(_ path: String) throws(SystemCallError) -> FileDescriptor {
        try open(path, flags: O_RDONLY | O_DIRECTORY)
    }

    /// Releases the descriptor. Safe to call more than once.
    package func close() {
        guard raw >= 0 else { return }
        // Linux releases the descriptor even when close reports an error, and retrying could close
        // a descriptor another thread just received; durability was already settled by fsync.
        _ = Glibc.close(raw)
        raw = -1
    }

    /// Closes the descriptor and reports an error `close` returns: after a good fsync, EIO from
    /// some file systems still means the data may not be there. Not retried (Linux releases the
    /// descriptor even when close fails); EINTR is not an error here.
    package func closeReportingError() throws(SystemCallError) {
        guard raw >= 0 else { return }
        let result = Glibc.close(raw)
        let error = SystemCallError.last("close", path: path)
        raw = -1
        if result != 0 && error.errno != EINTR { throw error }
    }

    /// `fchmod`: the file's permissions exactly, whatever the umask made of them at creation.
    package func setMode(_ mode: mode_t) throws(SystemCallError) {
        guard fchmod(raw, mode) == 0 else { throw .last("fchmod", path: path) }
    }

    /// Writes all of `bytes` at `offset` (pwrite: never depends on the file position or O_APPEND).
    package func write(_ bytes: [UInt8], at offset: Int) throws(SystemCallError) {
        // Array.withUnsafeBytes only rethrows untyped errors, so the failure comes out as a value.
        let failure = bytes.withUnsafeBytes { buffer -> SystemCallError? in
            var done = 0
            while done < buffer.count {
                let n = pwrite(raw, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n > 0 {
                    done += n
                } else if n == 0 {
                    // A regular file never takes zero bytes without an error; report an I/O error
                    // rather than spin.
                    return SystemCallError(call: "pwrite", errno: EIO, path: path)
                } else {
                    let error = SystemCallError.last("pwrite", path: path)
                    if error.errno != EINTR { return error }
                }
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Writes all of `bytes` with `write` at the file position: at the end of the file when it
    /// was opened with `O_APPEND`, even if another process wrote there meanwhile.
    package func append(_ bytes: [UInt8]) throws(SystemCallError) {
        if let code = bytes.withUnsafeBytes({ writeAll(raw, $0) }) {
            throw SystemCallError(call: "write", errno: code, path: path)
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    package func read(count: Int, at offset: Int) throws(SystemCallError) -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let outcome = bytes.withUnsafeMutableBytes { buffer -> Result<Int, SystemCallError> in
            var done = 0
            while done < count {
                let n = pread(raw, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n > 0 {
                    done += n
                } else if n == 0 {
                    break
                } else {
                    let error = SystemCallError.last("pread", path: path)
                    if error.errno != EINTR { return .failure(error) }
                }
            }
            return .success(done)
        }
        switch outcome {
        case let .failure(error):
            throw error
        case let .success(filled):
            if filled < count { bytes.removeSubrange(filled...) }
            return bytes
        }
    }

    /// Reads the whole file as it is now.
    package func readAll() throws(SystemCallError) -> [UInt8] {
        try read(count: size(), at: 0)
    }

    /// Reads from the current position to end of file with `read` (not the size `fstat` gives,
    /// which is 0 for `/proc` files). nil once more than `limit` bytes were read.
    package func readToEnd(limit: Int) throws(SystemCallError) -> [UInt8]? {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: limit < 64 * 1024 ? limit + 1 : 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(raw, $0.baseAddress, $0.count) }
            if n < 0 {
                let error = SystemCallError.last("read", path: path)
                if error.errno == EINTR { continue }
                throw error
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { return nil }
        }
    }

    /// Whether `fstat` says this is a regular file.
    package func isRegularFile() throws(SystemCallError) -> Bool {
        var info = stat()
        guard fstat(raw, &info) == 0 else {
            throw .last("fstat", path: path)
        }
        return info.st_mode & S_IFMT == S_IFREG
    }

    /// Current file size from `fstat`.
    package func size() throws(SystemCallError) -> Int {
        var info = stat()
        guard fstat(raw, &info) == 0 else {
            throw .last("fstat", path: path)
        }
        return Int(info.st_size)
    }

    /// Bytes an unprivileged user may still write on this file's file system
    /// (`fstatvfs`: `f_bavail * f_frsize`), saturating at `Int.max`.
    package func availableBytes() throws(SystemCallError) -> Int {
        var info = statvfs()
        guard fstatvfs(raw, &info) == 0 else {
            throw .last("fstatvfs", path: path)
        }
        let (product, overflow) = UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize))
        return overflow || product > UInt64(Int.max) ? Int.max : Int(product)
    }

    /// `fdatasync`: file data plus the metadata needed to read it back (size) reach the disk.
    /// Not retried on any error, EINTR included: after a failed sync the kernel may already have
    /// dropped the dirty pages, so a later success would prove nothing.
    package func synchronizeData() throws(SystemCallError) {
        guard fdatasync(raw) == 0 else {
            throw .last("fdatasync", path: path)
        }
    }

    /// `fsync`: data and all metadata. Used for new files (directories: `synchronizeDirectory`).
    /// Not retried (see above).
    package func synchronize() throws(SystemCallError) {
        guard fsync(raw) == 0 else {
            throw .last("fsync", path: path)
        }
    }

    /// `fsync` of this descriptor, a directory opened with `openDirectory`, through `DirectorySync`
    /// (the one place directory syncs go through): entries created, renamed or removed in it
    /// survive a crash. Keeps using this descriptor, so it needs no new one. Not retried.
    package func synchronizeDirectory() throws(SystemCallError) {
        try DirectorySync.synchronize(descriptor: raw, path: path)
    }

    /// `ftruncate` to `length` bytes.
    package func truncate(to length: Int) throws(SystemCallError) {
        while ftruncate(raw, off_t(length)) != 0 {
            let error = SystemCallError.last("ftruncate", path: path)
            if error.errno != EINTR { throw error }
        }
    }

    /// Non-blocking exclusive `flock`. Returns false when another open file description holds it.
    package func tryLockExclusive() throws(SystemCallError) -> Bool {
        while flock(raw, LOCK_EX | LOCK_NB) != 0 {
            let error = SystemCallError.last("flock", path: path)
            if error.errno == EWOULDBLOCK { return false }
            if error.errno != EINTR { throw error }
        }
        return true
    }
}
