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
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(path)
        } catch where error.errno == ENOENT {
            return nil
        } catch where error.errno == EFBIG {
            throw .damaged(path: path)
        } catch where error.isNotRegularFile {
            throw .notAFile(path: path)
        } catch {
            throw .system(call: error.call, path: path, errno: error.errno)
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
