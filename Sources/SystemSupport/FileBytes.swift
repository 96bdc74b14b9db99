import Glibc

/// Whole-file reads for small files (config, keys, the token file, `/proc` entries) with
/// errno-based errors.
package enum FileBytes {
    package struct ReadError: Error, CustomStringConvertible {
        /// The call that failed (`open`, `fstat`, `read`), or the check that refused the file.
        package let call: String
        package let errno: Int32
        package var reason: String?
        package init(call: String, errno: Int32, reason: String? = nil) {
            self.call = call
            self.errno = errno
            self.reason = reason
        }
        init(_ error: SystemCallError) {
            self.init(call: error.call, errno: error.errno)
        }
        /// The path names a directory, FIFO, device or socket, not a file.
        package var isNotRegularFile: Bool { call == "fstat" && errno == EINVAL && reason == Self.notRegularFile }
        static let notRegularFile = "not a regular file"
        package var description: String { reason ?? String(cString: strerror(errno)) }
    }

    /// The most a config or key file may hold.
    package static let limit = 1 << 20

    /// The whole of the regular file at `path`, read to its end (so `/proc` files, whose size
    /// says 0, read whole too). Anything else (a FIFO that would block start-up and reloads,
    /// `/dev/zero` that never ends) and files over `limit` bytes are refused. `limit` lowers the
    /// bound; `followSymlinks: false` refuses a symbolic link at `path`.
    package static func read(_ path: String, limit: Int = limit, followSymlinks: Bool = true) throws(ReadError) -> [UInt8] {
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(path, flags: O_RDONLY | O_NONBLOCK | (followSymlinks ? 0 : O_NOFOLLOW))
        } catch {
            throw ReadError(error)
        }
        defer { file.close() }
        do {
            guard try file.isRegularFile() else { throw ReadError(call: "fstat", errno: EINVAL, reason: ReadError.notRegularFile) }
            guard try file.size() <= limit, let bytes = try file.readToEnd(limit: limit) else {
                throw ReadError(call: "read", errno: EFBIG, reason: "larger than \(limit) bytes")
            }
            return bytes
        } catch let error as SystemCallError {
            throw ReadError(error)
        } catch let error as ReadError {
            throw error
        } catch {
            throw ReadError(call: "read", errno: EIO)
        }
    }
}
