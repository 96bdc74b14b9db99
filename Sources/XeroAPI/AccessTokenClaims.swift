import ByteJSON
import Foundation

/// What an access token says about itself. Xero's access tokens are JWTs (xero-facts §7.1,
/// JWKS); their `exp` claim is the true expiry, where `expires_in` only counts from an issue
/// time the daemon may not know (`PAN_SEC_XERO_EXPIRES_IN` arrives long after the token was
/// issued). The signature is not checked: the token is only ever sent back to Xero, which does.
package enum AccessTokenClaims {
    /// The `exp` claim (seconds since 1970) of a JWT, or nil for a token that is not a JWT or
    /// has no positive finite numeric `exp`. RFC 7519 §2 allows a non-integer NumericDate
    /// (`1900000000.5`), so any JSON number is read.
    package static func expiry(of token: String) -> Date? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = base64URLDecode(parts[1]),
              let root = try? JSONParser.parse(payload),  // not JSON: not a JWT we can read
              case let .number(text)? = root["exp"]?.kind,
              let seconds = Double(text), seconds.isFinite, seconds > 0 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    static func base64URLDecode(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
