import Foundation

/// `application/x-www-form-urlencoded` (WHATWG URL §5) and the Basic credentials of RFC 7617.
enum FormEncoding {
    /// `a=1&b=x+y`: unreserved bytes as they are, space as `+`, everything else `%XX`.
    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(component($0.0))=\(component($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes one name or value.
    static func component(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "*"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out.append("+")
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// Percent-encoding for a URL query value (RFC 3986 unreserved kept; space as `%20`).
    static func queryComponent(_ text: String) -> String {
        component(text).replacingOccurrences(of: "+", with: "%20").replacingOccurrences(of: "*", with: "%2A")
    }

    /// `Basic base64(id:secret)`, as Xero's SDKs send it (xero-facts §7.2).
    static func basicAuthorization(id: String, secret: String) -> String {
        "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
