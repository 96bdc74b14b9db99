import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// The worker's files (dead letters, retry state) are replaced with `AtomicFile`, and its
/// directories created and synced with `DirectorySync`; this gives their failures the worker's
/// error type.
package enum DurableFile {
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        /// The failed system call (name, errno, path), when one failed.
        package let system: SystemCallError?
        /// The failed call's errno, when a system call failed.
        package var errno: Int32? { system?.errno }

        init(_ error: SystemCallError) {
            description = error.description
            system = error
        }

        init(description: String) {
            self.description = description
            system = nil
        }
    }

    static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o640) throws(Failure) {
        do {
            try AtomicFile.replace(path, with: bytes, mode: mode)
        } catch {
            throw Failure(error)
        }
    }

    /// fsyncs `directory` after entries in it were renamed or removed.
    static func syncDirectory(_ directory: String) throws(Failure) {
        do {
            try DirectorySync.synchronize(directory: directory)
        } catch {
            throw Failure(error)
        }
    }

    /// Creates `directory` (and missing parents, mode 0750) with each new entry synced.
    static func makeDirectory(_ directory: String) throws(Failure) {
        do {
            try DirectorySync.makeDirectory(at: directory, mode: 0o750)
        } catch {
            throw Failure(error)
        }
    }
}
