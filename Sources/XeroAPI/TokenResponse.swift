import ByteJSON

/// A successful answer of the token endpoint (RFC 6749 §5.1; xero-facts §7.2), or the JSON a
/// token command prints. Printing it never shows a token.
package struct TokenResponse: Sendable, Equatable, CustomStringConvertible {
    package var accessToken: String
    /// Seconds from issue until the access token expires (Xero: 1800).
    package var expiresIn: Int?
    /// Absolute expiry in seconds since 1970, when a token file gives one instead of `expires_in`.
    package var expiresAt: Int64?
    package var refreshToken: String?
    package var scope: String?

    package init(accessToken: String, expiresIn: Int?, expiresAt: Int64? = nil, refreshToken: String? = nil, scope: String? = nil) {
        self.accessToken = accessToken
        self.expiresIn = expiresIn
        self.expiresAt = expiresAt
        self.refreshToken = refreshToken
        self.scope = scope
    }

    package var description: String { "TokenResponse(expires_in: \(expiresIn.map(String.init) ?? "-"))" }

    /// Parses `{"access_token":…,"expires_in":…,…}`. Returns nil when it is not such an object.
    package static func parse(_ bytes: [UInt8]) -> TokenResponse? {
        guard let root = try? JSONParser.parse(bytes),  // not JSON: the caller reports "unexpected answer"
              let access = root["access_token"]?.stringValue, !access.isEmpty else { return nil }
        var expiresIn: Int?
        if let value = root["expires_in"] {
            if let n = value.int64Value { expiresIn = Int(n) } else if let s = value.stringValue { expiresIn = Int(s) }
        }
        return TokenResponse(
            accessToken: access,
            expiresIn: expiresIn,
            expiresAt: root["expires_at"]?.int64Value,
            refreshToken: root["refresh_token"]?.stringValue,
            scope: root["scope"]?.stringValue
        )
    }

    /// The scopes as a list.
    package var scopes: [String] { scope.map { $0.split(separator: " ").map(String.init) } ?? [] }
}

/// An OAuth error answer, `{"error":"invalid_grant","error_description":…}` (RFC 6749 §5.2).
struct OAuthError: Sendable, Equatable {
    var error: String
    var description: String?

    static func parse(_ bytes: [UInt8]) -> OAuthError? {
        guard let root = try? JSONParser.parse(bytes),  // not JSON: reported by status instead
              let error = root["error"]?.stringValue else { return nil }
        return OAuthError(error: error, description: root["error_description"]?.stringValue)
    }
}
