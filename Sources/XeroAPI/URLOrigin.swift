import Foundation

/// Scheme, host and port of a URL: the unit a bearer token is confined to.
struct URLOrigin: Sendable, Equatable, CustomStringConvertible {
    var scheme: String
    var host: String
    var port: Int

    /// Nil for anything but an absolute http(s) URL with a host and no user info.
    init?(_ text: String) {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = components.host?.lowercased(), !host.isEmpty,
              components.user == nil, components.password == nil else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    var description: String { "\(scheme)://\(host):\(port)" }
}

/// Checks on values that end up in a URL path, a query or a header.
enum XeroIdentifier {
    /// Xero ids are GUIDs; accept letters, digits and `-` only (1–64 characters), so an id can
    /// never add a comma to `IDs=`, a segment to a path or a line to a header.
    static func isSafe(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
        }
    }
}
