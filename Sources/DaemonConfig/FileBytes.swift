#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads for small files (config, keys) with errno-based errors.
package enum FileBytes {
    package struct ReadError: Error, CustomStringConvertible {
        package let errno: Int32
        package var reason: String?
        package init(errno: Int32, reason: String? = nil) {
            self.errno = errno
            self.reason = reason
        }
        package var description: String { reason ?? String(cString: strerror(errno)) }
    }

    /// The most a config or key file may hold.
    package static let limit = 1 << 20

    /// The whole of the regular file at `path`. Anything else (a FIFO that would block start-up
    /// and reloads, `/dev/zero` that never ends) and files over `limit` bytes are refused.
    /// `limit` lowers the bound; `followSymlinks: false` refuses a symbolic link at `path`.
    package static func read(_ path: String, limit: Int = limit, followSymlinks: Bool = true) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followSymlinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else { throw ReadError(errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ReadError(errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ReadError(errno: EINVAL, reason: "not a regular file") }
        guard Int(info.st_size) <= limit else { throw ReadError(errno: EFBIG, reason: "larger than \(limit) bytes") }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(errno: errno)
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            guard result.count <= limit else { throw ReadError(errno: EFBIG, reason: "larger than \(limit) bytes") }
        }
    }
}
