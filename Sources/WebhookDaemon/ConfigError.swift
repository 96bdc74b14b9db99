/// A configuration problem, naming the key path and the reason, e.g.
/// `config: listen.port: 70000 is not a port (0-65535)`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// Dotted key path (`listen.port`), or a pseudo-key such as `webhook key` for secrets.
    public let key: String
    public let reason: String

    public init(_ key: String, _ reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String {
        key.isEmpty ? "config: \(reason)" : "config: \(key): \(reason)"
    }
}
