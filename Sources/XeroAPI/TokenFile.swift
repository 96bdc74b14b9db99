#if canImport(Glibc)
import Glibc
#endif

/// The token set in a file, by default `<stateDirectory>/xero-token.json`, mode 0600.
///
/// `save` writes a temporary file in the same directory, fsyncs it, renames it over the old
/// file and fsyncs the directory, so after a crash the file holds either the old set or the
/// new one, never a mix, and a returned `save` is never undone.
public struct TokenFile: TokenStore {
    public static let defaultName = "xero-token.json"

    public let path: String
    public var location: String { path }

    public init(path: String) {
        self.path = path
    }

    /// `<directory>/xero-token.json`.
    public init(stateDirectory: String) {
        self.init(path: stateDirectory + "/" + Self.defaultName)
    }

    public func load() throws(TokenStoreError) -> StoredTokenSet? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw .system(call: "open", path: path, errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(call: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= 1 << 20 else { throw .damaged(path: path) }
        }
        guard let set = StoredTokenSet.decode(bytes) else { throw .damaged(path: path) }
        return set
    }

    public func save(_ set: StoredTokenSet) throws(TokenStoreError) {
        let directory = Self.directory(of: path)
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .system(call: "mkdir", path: directory, errno: errno)
        }
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(call: "open", path: temporary, errno: errno) }
        var failure: TokenStoreError?
        // The umask cannot widen 0600, but a narrower umask must not leave it unreadable to us.
        if fchmod(fd, 0o600) != 0 { failure = .system(call: "fchmod", path: temporary, errno: errno) }
        if failure == nil { failure = Self.writeAll(fd, set.encoded(), path: temporary) }
        if failure == nil && fsync(fd) != 0 { failure = .system(call: "fsync", path: temporary, errno: errno) }
        if close(fd) != 0 && failure == nil && errno != EINTR { failure = .system(call: "close", path: temporary, errno: errno) }
        if failure == nil && rename(temporary, path) != 0 { failure = .system(call: "rename", path: path, errno: errno) }
        if let failure {
            unlink(temporary)
            throw failure
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw .system(call: "open", path: directory, errno: errno) }
        defer { close(dirfd) }
        guard fsync(dirfd) == 0 else { throw .system(call: "fsync", path: directory, errno: errno) }
    }

    public func stamp() -> FileStamp? { FileStamp.of(path) }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) -> TokenStoreError? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return .system(call: "write", path: path, errno: errno)
            }
            offset += n
        }
        return nil
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
