import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Replaces a small file atomically and durably: write `<name>.tmp`, fsync it, rename it over
/// the target, fsync the directory. A crash leaves either the old or the new content.
public enum DurableFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o640) throws(Failure) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(description: "open \(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw Failure(description: "write \(temporary): \(reason)")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "fsync \(temporary): \(reason)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw Failure(description: "rename \(temporary): \(String(cString: strerror(errno)))") }
        try syncDirectory(directory)
    }

    static func syncDirectory(_ directory: String) throws(Failure) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "open \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure(description: "fsync \(directory): \(String(cString: strerror(errno)))") }
    }
}
