// The request line (RFC 9112 §3): method SP request-target SP HTTP-version CRLF.

extension RequestParser {
    /// The limit and error for the request line: 414 past `maxRequestLineBytes`, or 431 if the
    /// header section allowance is the smaller one.
    private var requestLineLimit: (maxLength: Int, error: HTTPParseError) {
        // Room for the request line's CRLF and the empty line that ends the section.
        let sectionRoom = limits.maxHeaderBytes - 4
        return limits.maxRequestLineBytes <= sectionRoom
            ? (limits.maxRequestLineBytes, .uriTooLong)
            : (sectionRoom, .headerFieldsTooLarge)
    }

    /// Reads the request line, skipping a few empty lines before it.
    mutating func readRequestLine() throws(HTTPParseError) -> Progress {
        let limit = requestLineLimit
        guard let end = try findLineEnd(maxLength: limit.maxLength, tooLong: limit.error) else {
            return .needMoreBytes
        }
        let start = readIndex
        consumeLine(endingAt: end)
        if end == start {
            // §2.2: a server SHOULD ignore at least one empty line before the request line.
            emptyLinesSkipped += 1
            guard emptyLinesSkipped <= limits.maxLeadingEmptyLines else {
                throw .badRequest("too many empty lines before the request line")
            }
            return .advanced
        }
        let line = try withBytes(start..<end) { Self.parseRequestLine($0) }.get()
        method = makeString(start + line.method.lowerBound..<start + line.method.upperBound)
        target = makeString(start + line.target.lowerBound..<start + line.target.upperBound)
        version = line.version
        sectionBytes = end - start + 2
        state = .fieldLines
        return .advanced
    }

    /// Splits and validates a request line. Syntax errors are 400; a well-formed version with
    /// a major number other than 1 is 505 (this includes the HTTP/2 preface `PRI * HTTP/2.0`).
    static func parseRequestLine(
        _ line: UnsafeBufferPointer<UInt8>
    ) -> Result<(method: Range<Int>, target: Range<Int>, version: HTTPVersion), HTTPParseError> {
        // Exactly two single spaces (§3: no other whitespace is allowed as a separator).
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.sp),
              let secondSpace = line[(firstSpace + 1)...].firstIndex(of: HTTPSyntax.sp),
              !line[(secondSpace + 1)...].contains(HTTPSyntax.sp)
        else {
            return .failure(.badRequest("request line is not 'method SP target SP version'"))
        }
        let method = 0..<firstSpace
        let target = (firstSpace + 1)..<secondSpace
        guard let version = parseVersion(line[(secondSpace + 1)...]) else {
            return .failure(.badRequest("malformed HTTP version"))
        }
        guard HTTPSyntax.isToken(line[method]) else {
            return .failure(.badRequest("method is not a token"))
        }
        guard version.major == 1 else {
            return .failure(.versionNotSupported)
        }
        if let problem = targetProblem(line[target], isOptions: line[method].elementsEqual("OPTIONS".utf8)) {
            return .failure(.badRequest(problem))
        }
        // RFC 9110 §2.5: a higher minor version within a supported major version is processed
        // as the highest minor version implemented, so HTTP/1.2 … 1.9 are treated as 1.1.
        return .success((method, target, version.minor == 0 ? .http1_0 : .http1_1))
    }

    /// `HTTP-version = "HTTP/" DIGIT "." DIGIT` (§2.3, case-sensitive), or nil.
    static func parseVersion(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> HTTPVersion? {
        guard bytes.count == 8, bytes.starts(with: "HTTP/".utf8) else { return nil }
        let major = bytes[bytes.startIndex + 5], dot = bytes[bytes.startIndex + 6]
        let minor = bytes[bytes.startIndex + 7]
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        guard digits.contains(major), dot == UInt8(ascii: "."), digits.contains(minor) else {
            return nil
        }
        return HTTPVersion(major: Int(major - UInt8(ascii: "0")), minor: Int(minor - UInt8(ascii: "0")))
    }

    /// Why `target` is not an acceptable request-target (§3.2), or nil when it is.
    ///
    /// Accepted: origin-form (`/path?query`); absolute-form with an `http` or `https` scheme, a
    /// non-empty authority and no userinfo (RFC 9110 §4.2.4 asks recipients to treat userinfo
    /// as an error); asterisk-form `*` for OPTIONS only (§3.2.4). Every byte must be a URI
    /// character and every `%` must start a pct-encoded octet; fragments (`#`) are not allowed.
    static func targetProblem(_ target: Slice<UnsafeBufferPointer<UInt8>>, isOptions: Bool) -> String? {
        guard let first = target.first else { return "empty request-target" }
        var index = target.startIndex
        while index < target.endIndex {
            let byte = target[index]
            guard HTTPSyntax.isTargetByte(byte) else { return "invalid byte in request-target" }
            if byte == UInt8(ascii: "%") {
                guard index + 2 < target.endIndex,
                      HTTPSyntax.hexValue(target[index + 1]) != nil,
                      HTTPSyntax.hexValue(target[index + 2]) != nil
                else { return "malformed pct-encoding in request-target" }
                index += 2
            }
            index += 1
        }
        if first == UInt8(ascii: "/") { return nil }
        if target.count == 1 && first == UInt8(ascii: "*") {
            return isOptions ? nil : "asterisk-form request-target is only allowed for OPTIONS"
        }
        for scheme in ["http://", "https://"] where startsIgnoringCase(target, scheme) {
            let authority = target.dropFirst(scheme.utf8.count).prefix {
                $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?")
            }
            if authority.isEmpty { return "absolute-form request-target without authority" }
            if authority.contains(UInt8(ascii: "@")) { return "userinfo in request-target" }
            return nil
        }
        return "request-target is not origin-form, absolute-form or '*'"
    }

    private static func startsIgnoringCase(
        _ bytes: Slice<UnsafeBufferPointer<UInt8>>, _ prefix: String
    ) -> Bool {
        bytes.count >= prefix.utf8.count
            && zip(bytes, prefix.utf8).allSatisfy { HTTPSyntax.lowercased($0) == $1 }
    }
}
