import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The token set in a file, by default `<stateDirectory>/xero-token.json`, mode 0600.
///
/// `save` writes a temporary file in the same directory, fsyncs it, renames it over the old
/// file and fsyncs the directory, so after a crash the file holds either the old set or the
/// new one, never a mix, and a returned `save` is never undone. A missing directory is created
/// (mode 0700, with `DirectorySync`, so its own entry is durable too).
package struct TokenFile: TokenStore {
    package static let defaultName = "xero-token.json"

    package let path: String
    package var location: String { path }

    package init(path: String) {
        self.path = path
    }

    /// `<directory>/xero-token.json`.
    package init(stateDirectory: String) {
        self.init(path: stateDirectory + "/" + Self.defaultName)
    }

    package func load() throws(TokenStoreError) -> StoredTokenSet? {
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

    package func save(_ set: StoredTokenSet) throws(TokenStoreError) {
        do {
            try DirectorySync.makeDirectory(at: DirectorySync.parent(of: path), mode: 0o700)
            try AtomicFile.replace(path, with: set.encoded(), mode: 0o600)
        } catch {
            throw .system(call: error.call, path: error.path ?? path, errno: error.errno)
        }
    }

    package func stamp() -> FileStamp? { FileStamp.of(path) }
}
