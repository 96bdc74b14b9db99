/// An HTTP version as sent in a request line (`HTTP/1.1`).
package struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    package var major: Int
    package var minor: Int

    package init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0: no `Host` required, connections close unless `Connection: keep-alive`.
    package static let http1_0 = HTTPVersion(major: 1, minor: 0)

    /// HTTP/1.1. `RequestParser` also reports `HTTP/1.2` … `HTTP/1.9` as this version.
    package static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// `HTTP/major.minor`, as on the wire.
    package var description: String { "HTTP/\(major).\(minor)" }
}
