/// Byte classes and small grammar pieces of RFC 9110 / RFC 9112, on raw bytes.
package enum HTTPSyntax {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let sp: UInt8 = 0x20
    static let htab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C

    /// `tchar` (RFC 9110 §5.6.2): the bytes of a token such as a method or a field name.
    @inline(__always)
    package static func isTokenChar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"),
             UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// SP or HTAB: optional whitespace (`OWS`, `BWS`).
    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == sp || byte == htab
    }

    /// A byte allowed inside a field value (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB.
    /// Everything else is a control character (NUL, CR, LF, other CTLs, DEL).
    @inline(__always)
    package static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == htab
    }

    /// A byte allowed in a request-target (RFC 3986 unreserved, sub-delims, `:`, `@`, `/`, `?`,
    /// `%` for pct-encoding, and `[` `]` for IP literals in an absolute-form authority).
    @inline(__always)
    static func isTargetByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
             UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"), UInt8(ascii: "?"),
             UInt8(ascii: "%"), UInt8(ascii: "["), UInt8(ascii: "]"):
            true
        default:
            false
        }
    }

    /// The value of a hex digit, or nil.
    @inline(__always)
    package static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Whether two strings are equal when ASCII letters are compared without case.
    static func equalsIgnoringCase(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        // Compared over contiguous bytes when both have them (native strings, the usual
        // case): iterating two UTF8Views in step costs several times more.
        let contiguous = a.utf8.withContiguousStorageIfAvailable { a in
            b.utf8.withContiguousStorageIfAvailable { b in equalsIgnoringCase(a, b) }
        }
        if let contiguous, let equal = contiguous { return equal }
        return equalsIgnoringCase(a.utf8, b.utf8)
    }

    /// Whether two byte strings are equal when ASCII letters are compared without case.
    static func equalsIgnoringCase(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// Whether `bytes` is a non-empty token.
    package static func isToken(_ bytes: some Collection<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy(isTokenChar)
    }

    /// Calls `body` with each non-empty element of a comma-separated field value (RFC 9110
    /// §5.6.1), in order, without the whitespace around it. Empty elements are skipped, as
    /// §5.6.1.2 asks. Allocates nothing.
    static func forEachListElement<Failure: Error>(
        _ value: String, _ body: (Substring) throws(Failure) -> Void
    ) throws(Failure) {
        let utf8 = value.utf8
        var elementStart = utf8.startIndex
        while true {
            let comma = utf8[elementStart...].firstIndex(of: UInt8(ascii: ",")) ?? utf8.endIndex
            let element = trimmingWhitespace(value[elementStart..<comma])
            if !element.isEmpty { try body(element) }
            guard comma < utf8.endIndex else { return }
            elementStart = utf8.index(after: comma)
        }
    }

    /// `text` without leading and trailing SP and HTAB.
    static func trimmingWhitespace(_ text: Substring) -> Substring {
        let utf8 = text.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end && isWhitespace(utf8[start]) { utf8.formIndex(after: &start) }
        while end > start && isWhitespace(utf8[utf8.index(before: end)]) { utf8.formIndex(before: &end) }
        return text[start..<end]
    }

    /// Checks `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )` over
    /// `bytes`, the shape of chunk extensions (RFC 9112 §7.1.1) and of transfer
    /// coding parameters (RFC 9110 §10.1.4, where the value is required).
    static func isParameterList(
        _ bytes: some Collection<UInt8>, valueRequired: Bool
    ) -> Bool {
        var index = bytes.startIndex
        func skipWhitespace() {
            while index < bytes.endIndex && isWhitespace(bytes[index]) { bytes.formIndex(after: &index) }
        }
        func skipToken() -> Bool {
            let start = index
            while index < bytes.endIndex && isTokenChar(bytes[index]) { bytes.formIndex(after: &index) }
            return index != start
        }
        // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
        func skipQuotedString() -> Bool {
            bytes.formIndex(after: &index)
            while index < bytes.endIndex {
                let byte = bytes[index]
                bytes.formIndex(after: &index)
                if byte == quote { return true }
                if byte == backslash {
                    guard index < bytes.endIndex, isFieldValueByte(bytes[index]) else { return false }
                    bytes.formIndex(after: &index)
                } else if !isFieldValueByte(byte) {
                    return false
                }
            }
            return false
        }
        while true {
            skipWhitespace()
            guard index < bytes.endIndex else { return true }
            guard bytes[index] == semicolon else { return false }
            bytes.formIndex(after: &index)
            skipWhitespace()
            guard skipToken() else { return false }
            skipWhitespace()
            guard index < bytes.endIndex, bytes[index] == equals else {
                if valueRequired { return false }
                continue
            }
            bytes.formIndex(after: &index)
            skipWhitespace()
            guard index < bytes.endIndex else { return false }
            if bytes[index] == quote {
                guard skipQuotedString() else { return false }
            } else {
                guard skipToken() else { return false }
            }
        }
    }
}
