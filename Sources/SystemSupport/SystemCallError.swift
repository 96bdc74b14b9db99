import Glibc

/// A failed system call: its name, the `errno` it left, and the path it worked on.
///
/// Built immediately after the call returns, before anything else can overwrite `errno`.
package struct SystemCallError: Error, Equatable, CustomStringConvertible {
    /// The C function that failed, for example `"fdatasync"`.
    package let call: String
    /// The `errno` value the call reported.
    package let errno: Int32
    /// The file or directory the call acted on, when there is one.
    package let path: String?

    package init(call: String, errno: Int32, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    /// Captures the calling thread's current `errno` for `call`. Call it right after the failed call.
    package static func last(_ call: String, path: String? = nil) -> SystemCallError {
        SystemCallError(call: call, errno: currentErrno(), path: path)
    }

    package var description: String {
        let message = String(cString: strerror(errno))
        if let path {
            return "\(call) failed on \(path): \(message) (errno \(errno))"
        }
        return "\(call) failed: \(message) (errno \(errno))"
    }
}

// The property `errno` shadows the C global inside the struct; this reads the global.
private func currentErrno() -> Int32 {
    errno
}
