import ByteJSON
import Foundation

/// The refresh-token mode's credentials as kept on disk: the refresh token and, so a restart
/// need not rotate it, the last access token with its expiry. Printing it shows no token.
package struct StoredTokenSet: Sendable, Equatable, CustomStringConvertible {
    package var refreshToken: String
    package var accessToken: String?
    package var expiresAt: Date?
    package var scopes: [String]
    package var updatedAt: Date

    package init(refreshToken: String, accessToken: String?, expiresAt: Date?, scopes: [String], updatedAt: Date) {
        self.refreshToken = refreshToken
        self.accessToken = accessToken
        self.expiresAt = expiresAt
        self.scopes = scopes
        self.updatedAt = updatedAt
    }

    /// The set a token-endpoint answer gives, `issuedAt` being when the answer arrived.
    /// Nil when the answer carries no refresh token and there is no previous one to keep.
    package init?(_ response: TokenResponse, issuedAt: Date, previousRefreshToken: String? = nil) {
        guard let refresh = response.refreshToken ?? previousRefreshToken else { return nil }
        self.init(
            refreshToken: refresh,
            accessToken: response.accessToken,
            expiresAt: response.expiresIn.map { issuedAt.addingTimeInterval(Double($0)) },
            scopes: response.scopes,
            updatedAt: issuedAt
        )
    }

    package var description: String {
        "StoredTokenSet(expires: \(expiresAt.map(Timestamps.iso8601) ?? "-"), updated: \(Timestamps.iso8601(updatedAt)))"
    }

    /// The access token as an `XeroToken`, if one is stored.
    package var token: XeroToken? {
        accessToken.map { XeroToken(accessToken: $0, expiresAt: expiresAt, scopes: scopes) }
    }

    /// The file's bytes: one JSON object with `refresh_token`, `access_token`, `expires_at`
    /// (seconds since 1970), `scope` and `updated_at` (ISO 8601), then a newline.
    package func encoded() -> [UInt8] {
        let quoted = { (text: String) in JSONText.quoted(text) }
        let members: [(String, [UInt8]?)] = [
            ("refresh_token", quoted(refreshToken)),
            ("access_token", accessToken.map(quoted)),
            ("expires_at", expiresAt.map { Array(String(Timestamps.wholeSeconds($0.timeIntervalSince1970)).utf8) }),
            ("scope", quoted(scopes.joined(separator: " "))),
            ("updated_at", quoted(Timestamps.iso8601(updatedAt))),
        ]
        // One object; members without a value are left out.
        let parts = members.compactMap { key, value in value.map { quoted(key) + [UInt8(ascii: ":")] + $0 } }
        return [UInt8(ascii: "{")] + parts.joined(separator: [UInt8(ascii: ",")]) + Array("}\n".utf8)
    }

    /// Reads what `encoded()` wrote. Nil when the bytes are not such an object.
    package static func decode(_ bytes: [UInt8]) -> StoredTokenSet? {
        guard let root = try? JSONParser.parse(bytes),  // damaged file: the caller reports it
              let refresh = root["refresh_token"]?.stringValue, !refresh.isEmpty else { return nil }
        let updated = root["updated_at"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) }
        return StoredTokenSet(
            refreshToken: refresh,
            accessToken: root["access_token"]?.stringValue,
            expiresAt: root["expires_at"]?.int64Value.map { Date(timeIntervalSince1970: Double($0)) },
            scopes: root["scope"]?.stringValue.map { $0.split(separator: " ").map(String.init) } ?? [],
            updatedAt: updated ?? Date(timeIntervalSince1970: 0)
        )
    }
}
