import ByteJSON
import Foundation

/// Parsing and writing helpers for the fake's wire formats.
enum FakeXeroWire {
    /// Splits `a=1&b=2` into pairs, percent-decoding names and values (`+` is a space in forms).
    static func pairs(_ text: Substring, plusIsSpace: Bool) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(pieces[0], plusIsSpace: plusIsSpace)
            let value = pieces.count > 1 ? decode(pieces[1], plusIsSpace: plusIsSpace) : ""
            return (name, value)
        }
    }

    static func decode(_ text: Substring, plusIsSpace: Bool) -> String {
        let replaced = plusIsSpace ? text.replacingOccurrences(of: "+", with: " ") : String(text)
        return replaced.removingPercentEncoding ?? replaced
    }

    /// The query part of a request target (without `?`), or empty.
    static func query(_ target: String) -> Substring {
        guard let mark = target.firstIndex(of: "?") else { return "" }
        return target[target.index(after: mark)...]
    }

    /// A JSON string literal for `text`.
    static func quoted(_ text: String) -> String {
        String(decoding: JSONText.quoted(text), as: UTF8.self)
    }

    /// `/Date(1551981658323)/` as Xero writes it in JSON (`\/Date(…)\/`); with `offset`,
    /// `\/Date(1551981658323+0000)\/` as in records' `UpdatedDateUTC`.
    static func dotNetDate(_ date: Date, offset: Bool = false) -> String {
        "\\/Date(\(Int64(date.timeIntervalSince1970 * 1000))\(offset ? "+0000" : ""))\\/"
    }

    /// Whether `text` is a GUID (`8-4-4-4-12` hexadecimal digits), as Xero parses ids.
    static func isGUID(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    static func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// An access token shaped like Xero's: a JWT (`header.payload.signature`, base64url) whose
    /// payload carries `nbf`, `exp`, `iss`, `client_id`, `jti` and `scope`. The signature is
    /// random bytes: the fake looks tokens up rather than verifying them.
    static func accessToken(issuedAt: Date, expiresAt: Date, clientId: String?, scopes: String) -> String {
        let header = #"{"alg":"RS256","kid":"1CAF8E66772D6DC028D6726FD0261581570EFC19","typ":"JWT","x5t":"HK-OZndtbcAo1nJv0CYVgVcO_Bk"}"#
        let scopeList = scopes.split(separator: " ").map { quoted(String($0)) }.joined(separator: ",")
        let payload = #"{"nbf":\#(Int64(issuedAt.timeIntervalSince1970)),"exp":\#(Int64(expiresAt.timeIntervalSince1970)),"iss":"https://identity.xero.com","aud":"https://identity.xero.com/resources","client_id":\#(quoted(clientId ?? "")),"jti":"\#(UUID().uuidString.replacingOccurrences(of: "-", with: ""))","scope":[\#(scopeList)]}"#
        let signature = (0..<64).map { _ in UInt8.random(in: 0...255) }
        return [Array(header.utf8), Array(payload.utf8), signature].map(base64URL).joined(separator: ".")
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func randomToken(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }
}
