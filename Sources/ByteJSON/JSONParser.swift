/// A strict RFC 8259 parser over raw bytes that keeps byte ranges (see `JSONValue`).
///
/// Strict in grammar (no comments, no trailing commas, no NaN, no leading zeros, UTF-8 only,
/// control characters in strings rejected) so that any range it returns is itself valid JSON
/// and can be stored or spliced verbatim. Nesting is capped so hostile input cannot exhaust the
/// stack.
package struct JSONParser {
    package struct Failure: Error, Equatable, CustomStringConvertible {
        package let offset: Int
        package let reason: String
        package init(offset: Int, reason: String) {
            self.offset = offset
            self.reason = reason
        }
        package var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    package static let maxDepth = 64

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses one complete JSON document (surrounding whitespace allowed).
    package static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.failure("unexpected data after the document") }
        return value
    }

    private func failure(_ reason: String) -> Failure { Failure(offset: index, reason: reason) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
    }

    private mutating func parseValue() throws(Failure) -> JSONValue {
        guard let b = current else { throw failure("unexpected end of input") }
        let start = index
        switch b {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""):
            let s = try parseString()
            return JSONValue(kind: .string(s), range: start..<index)
        case UInt8(ascii: "t"): try expectLiteral("true"); return JSONValue(kind: .bool(true), range: start..<index)
        case UInt8(ascii: "f"): try expectLiteral("false"); return JSONValue(kind: .bool(false), range: start..<index)
        case UInt8(ascii: "n"): try expectLiteral("null"); return JSONValue(kind: .null, range: start..<index)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try parseNumber()
            return JSONValue(kind: .number(String(decoding: bytes[start..<index], as: UTF8.self)), range: start..<index)
        default:
            throw failure("unexpected character")
        }
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw failure("nesting deeper than \(Self.maxDepth)") }
    }

    private mutating func parseObject() throws(Failure) -> JSONValue {
        let start = index
        try enter()
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return JSONValue(kind: .object(members), range: start..<index)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a member name") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append((key, value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return JSONValue(kind: .object(members), range: start..<index)
            default: throw failure("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws(Failure) -> JSONValue {
        let start = index
        try enter()
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return JSONValue(kind: .array(items), range: start..<index)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return JSONValue(kind: .array(items), range: start..<index)
            default: throw failure("expected ',' or ']'")
            }
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(Failure) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("unexpected end of input") }
        for i in 0..<count where bytes[index + i] != literal.utf8Start[i] {
            throw failure("invalid literal")
        }
        index += count
    }

    private mutating func digits() -> Int {
        let start = index
        while let b = current, b >= 0x30, b <= 0x39 { index += 1 }
        return index - start
    }

    private mutating func parseNumber() throws(Failure) {
        if current == UInt8(ascii: "-") { index += 1 }
        if current == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw failure("expected a digit")
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw failure("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw failure("expected an exponent digit") }
        }
    }

    private mutating func parseString() throws(Failure) -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = index
        var plain = true  // no escapes so far: decode the run in one go at the end
        var ascii = true  // no byte over 0x7F in the current run: nothing to validate
        while true {
            skipPlainASCII()
            guard let b = current else { throw failure("unterminated string") }
            if b == UInt8(ascii: "\"") {
                let run = bytes[runStart..<index]
                index += 1
                if plain { return try Self.decodeUTF8(run, at: runStart, ascii: ascii) }
                scalars.append(contentsOf: try Self.decodeUTF8(run, at: runStart, ascii: ascii).unicodeScalars)
                return String(scalars)
            }
            if b < 0x20 { throw failure("control character in string") }
            if b >= 0x80 { ascii = false }
            if b == UInt8(ascii: "\\") {
                if plain { plain = false }
                scalars.append(contentsOf: try Self.decodeUTF8(bytes[runStart..<index], at: runStart, ascii: ascii).unicodeScalars)
                index += 1
                scalars.append(try parseEscape())
                runStart = index
                ascii = true
                continue
            }
            index += 1
        }
    }

    /// Moves past printable ASCII other than the quote and the backslash (most of every
    /// string), over the raw buffer; the caller looks at the byte it stops on.
    private mutating func skipPlainASCII() {
        index = bytes.withUnsafeBufferPointer { buffer in
            var at = index
            while at < buffer.count {
                let b = buffer[at]
                guard b >= 0x20 && b < 0x80 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") else { break }
                at += 1
            }
            return at
        }
    }

    /// The run as a string. An ASCII run is valid UTF-8 as it stands and takes the cheap
    /// conversion; any other is validated, and refused rather than repaired.
    private static func decodeUTF8(_ run: ArraySlice<UInt8>, at offset: Int, ascii: Bool) throws(Failure) -> String {
        if ascii { return String(decoding: run, as: UTF8.self) }
        guard let s = String(validating: run, as: UTF8.self) else {
            throw Failure(offset: offset, reason: "string is not valid UTF-8")
        }
        return s
    }

    private mutating func parseEscape() throws(Failure) -> Unicode.Scalar {
        guard let e = current else { throw failure("unterminated escape") }
        index += 1
        switch e {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try hex4()
            if (0xD800...0xDBFF).contains(high) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("unpaired surrogate")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate") }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(high) else { throw failure("unpaired surrogate") }
            return scalar
        default:
            throw failure("invalid escape")
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}
