extension JSONText {
    /// Appends `json` to `out` without its insignificant whitespace (RFC 8259 §2: space, tab,
    /// CR and LF between tokens), in one pass and without re-serialising: strings (escapes such
    /// as `\/` included), numbers, literals and the order of members are copied byte for byte.
    ///
    /// `json` must be valid JSON text, e.g. a range `JSONParser` returned: a string cannot hold a
    /// raw CR or LF then, so every CR and LF outside an escape is insignificant and the result is
    /// one line. Xero's Accounting API answers in indented JSON with CRLF line breaks; records
    /// copied out of such an answer go through here before they are written as JSON Lines.
    package static func appendCompacted(_ json: some Collection<UInt8>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + json.count)
        var inString = false
        var escaped = false
        for byte in json {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                out.append(byte)
                continue
            }
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D:
                continue
            case UInt8(ascii: "\""):
                inString = true
            default:
                break
            }
            out.append(byte)
        }
    }

    /// `json` without insignificant whitespace (see `appendCompacted(_:to:)`).
    package static func compacted(_ json: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        appendCompacted(json, to: &out)
        return out
    }
}
