/// An HTTP version as sent in a request line (`HTTP/1.1`).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0: no `Host` required, connections close unless `Connection: keep-alive`.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)

    /// HTTP/1.1. `RequestParser` also reports `HTTP/1.2` … `HTTP/1.9` as this version.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// `HTTP/major.minor`, as on the wire.
    public var description: String { "HTTP/\(major).\(minor)" }
}
