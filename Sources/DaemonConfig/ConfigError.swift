/// A configuration problem, naming the key path and the reason, e.g.
/// `config: listen.port: 70000 is not a port (0-65535)`.
package struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// Dotted key path (`listen.port`), or a pseudo-key such as `webhook key` for secrets.
    package let key: String
    package let reason: String

    package init(_ key: String, _ reason: String) {
        self.key = key
        self.reason = reason
    }

    package var description: String {
        key.isEmpty ? "config: \(reason)" : "config: \(key): \(reason)"
    }
}
