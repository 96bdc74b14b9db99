#if canImport(Glibc)
import Glibc
#endif

/// Identifies one version of a file: a replaced or rewritten file gets a different stamp
/// (rename gives a new inode; an in-place write a new mtime or size).
package struct FileStamp: Sendable, Equatable {
    package var device: UInt64
    package var inode: UInt64
    package var size: Int64
    package var modifiedSeconds: Int
    package var modifiedNanoseconds: Int

    /// The stamp of `path`, or nil when it cannot be stat'ed (absent).
    package static func of(_ path: String) -> FileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStamp(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                         modifiedSeconds: info.st_mtim.tv_sec, modifiedNanoseconds: info.st_mtim.tv_nsec)
    }

    /// The modification time as seconds since 1970.
    package var modified: Double { Double(modifiedSeconds) + Double(modifiedNanoseconds) / 1e9 }
}

/// Why the token store could not be read or written: the call and errno, or a damaged file.
package enum TokenStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case system(call: String, path: String, errno: Int32)
    case damaged(path: String)
    /// A directory, FIFO or device where the token file should be.
    case notAFile(path: String)

    package var description: String {
        switch self {
        case let .system(call, path, code): "\(call) \(path): \(String(cString: strerror(code)))"
        case let .damaged(path): "\(path) is not a token file written by xero-webhookd"
        case let .notAFile(path): "\(path) is not a regular file"
        }
    }
}

/// Where the refresh-token mode keeps its token set.
package protocol TokenStore: Sendable {
    /// Human-readable location, e.g. the path.
    var location: String { get }
    /// The stored set; nil when nothing is stored yet.
    func load() throws(TokenStoreError) -> StoredTokenSet?
    /// Replaces the stored set durably: when this returns, the new set survives a crash.
    func save(_ set: StoredTokenSet) throws(TokenStoreError)
    /// Changes whenever the stored set is replaced by anyone (nil when absent).
    func stamp() -> FileStamp?
}
