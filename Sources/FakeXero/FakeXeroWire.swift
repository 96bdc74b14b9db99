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

    /// `/Date(1551981658323)/` as Xero writes it in JSON (`\/Date(…)\/`).
    static func dotNetDate(_ date: Date) -> String {
        "\\/Date(\(Int64(date.timeIntervalSince1970 * 1000)))\\/"
    }

    /// Whether `text` is a GUID (`8-4-4-4-12` hexadecimal digits), as Xero parses ids.
    static func isGUID(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    static func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func randomToken(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }
}
