#if canImport(Glibc)
import Glibc
#endif

package enum SecretFile {
    /// A warning when `path` can be read by users other than its owner (and group), else nil.
    package static func exposure(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        guard info.st_mode & S_IROTH != 0 else { return nil }
        return "\(path) holds a secret and is readable by every user on this machine: chmod o-r \(path)"
    }
}
