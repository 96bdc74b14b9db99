/// Writes JSON text for the few small documents this module produces (the token file).
enum JSONText {
    /// A JSON string literal for `text` (RFC 8259 §7).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                out += "\\u" + String(s.value, radix: 16).leftPadded(to: 4)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `{"a":…,"b":…}` from members whose values are already JSON text; nil values are left out.
    static func object(_ members: [(String, String?)]) -> String {
        let parts = members.compactMap { key, value in value.map { "\(quoted(key)):\($0)" } }
        return "{" + parts.joined(separator: ",") + "}"
    }
}
