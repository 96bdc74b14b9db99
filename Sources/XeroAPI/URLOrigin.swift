import Foundation

/// Scheme, host and port of a URL: the unit a bearer token is confined to. Every check of
/// where a token may go (the API base, an event's `resourceUrl`, a tenant listing URL) uses
/// this one rule.
package struct URLOrigin: Sendable, Equatable, CustomStringConvertible {
    package var scheme: String
    package var host: String
    /// The explicit port, or the scheme's default (443, 80), so `https://h` and `https://h:443`
    /// are one origin (RFC 6454 §4).
    package var port: Int

    /// Nil for anything but an absolute http(s) URL with a host that is not percent-encoded and
    /// no user info. Scheme and host are compared without regard to case (RFC 3986 §6.2.2.1).
    package init?(_ text: String) {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
              // `api%2Exero%2Ecom` decodes to the API host; no real host is written that way.
              let encodedHost = components.percentEncodedHost, !encodedHost.contains("%"),
              let host = components.host?.lowercased(), !host.isEmpty,
              components.user == nil, components.password == nil else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    package var description: String { "\(scheme)://\(host):\(port)" }
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

    /// `8-4-4-4-12` hexadecimal digits, either case: the form of every Xero resource id
    /// (xero-facts §3.2, `resourceId: uuid`). Xero answers a batch holding anything else
    /// with 400 for the whole batch.
    static func isGUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == 0x2D else { return false }
            } else {
                let lower = byte | 0x20
                guard (byte >= 0x30 && byte <= 0x39) || (lower >= 0x61 && lower <= 0x66) else { return false }
            }
        }
        return true
    }
}
