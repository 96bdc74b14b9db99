import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The worker's files (dead letters, retry state) are replaced with `AtomicFile`; this gives
/// its failures the worker's error type.
public enum DurableFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o640) throws(Failure) {
        do {
            try AtomicFile.replace(path, with: bytes, mode: mode)
        } catch {
            throw Failure(description: error.description)
        }
    }

    static func syncDirectory(_ directory: String) throws(Failure) {
        do {
            try AtomicFile.syncDirectory(directory)
        } catch {
            throw Failure(description: error.description)
        }
    }
}
