// Interpreting a complete header section: Host, body framing (RFC 9112 §6), Expect and
// Connection.

extension RequestParser {
    /// The header fields whose meaning the parser needs.
    private enum KnownField {
        case host, contentLength, transferEncoding, connection, expect, other

        init(_ name: String) {
            let known: (String, KnownField)? = switch name.utf8.count {
            case 4: ("host", .host)
            case 6: ("expect", .expect)
            case 10: ("connection", .connection)
            case 14: ("content-length", .contentLength)
            case 17: ("transfer-encoding", .transferEncoding)
            default: nil
            }
            if let known, HTTPSyntax.equalsIgnoringCase(name, known.0) {
                self = known.1
            } else {
                self = .other
            }
        }
    }

    /// Checks the header section as a whole, builds the head and moves on to the body.
    mutating func completeHead() throws(HTTPParseError) -> HTTPRequestHead {
        var hosts = 0
        var contentLength: String?
        var contentLengthCount = 0
        var transferEncodings: [String] = []
        var connectionClose = false
        var connectionKeepAlive = false
        var continueExpected = false
        var otherExpectation = false
        var invalidHost = false
        for field in headers.fields {
            switch KnownField(field.name) {
            case .host:
                hosts += 1
                invalidHost = invalidHost || !Self.isValidHost(field.value)
            case .contentLength:
                contentLengthCount += 1
                if contentLength == nil { contentLength = field.value }
            case .transferEncoding:
                transferEncodings.append(field.value)
            case .connection:
                HTTPSyntax.forEachListElement(field.value) { option in
                    if HTTPSyntax.equalsIgnoringCase(option, "close") { connectionClose = true }
                    if HTTPSyntax.equalsIgnoringCase(option, "keep-alive") { connectionKeepAlive = true }
                }
            case .expect:
                // RFC 9110 §10.1.1: 100-continue is the only expectation; others get 417.
                HTTPSyntax.forEachListElement(field.value) { expectation in
                    if HTTPSyntax.equalsIgnoringCase(expectation, "100-continue") {
                        continueExpected = true
                    } else {
                        otherExpectation = true
                    }
                }
            case .other:
                break
            }
        }

        // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with
        // more than one Host line or an invalid Host value.
        if hosts > 1 { throw .badRequest("more than one Host") }
        if hosts == 0 && version == .http1_1 { throw .badRequest("HTTP/1.1 request without Host") }
        if invalidHost { throw .badRequest("invalid Host") }

        // Framing errors come before 417: they mean the connection cannot be reused at all.
        let framing = try bodyFraming(
            contentLength: contentLength, contentLengthCount: contentLengthCount,
            transferEncodings: transferEncodings)
        if otherExpectation { throw .expectationFailed }

        let head = HTTPRequestHead(
            method: method, target: target, version: version, headers: headers, framing: framing,
            // RFC 9112 §9.3: 1.1 is persistent unless "close"; 1.0 only with "keep-alive".
            keepAlive: !connectionClose && (version == .http1_1 || connectionKeepAlive),
            // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 MUST be ignored.
            expectsContinue: continueExpected && version == .http1_1)
        headers = HTTPHeaders()
        method = ""
        target = ""
        self.head = head
        switch framing {
        case .none: state = .fixedBody(remaining: 0)
        case .length(let length): state = .fixedBody(remaining: length)
        case .chunked: state = .chunkSizeLine
        }
        return head
    }

    /// The body framing (RFC 9112 §6.3), or the error that the framing calls for.
    private func bodyFraming(
        contentLength: String?, contentLengthCount: Int, transferEncodings: [String]
    ) throws(HTTPParseError) -> HTTPBodyFraming {
        if !transferEncodings.isEmpty {
            // §6.1: TE in an HTTP/1.0 message means the framing is faulty.
            if version == .http1_0 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            // §6.1: a server MAY reject both together; doing so removes the classic
            // CL/TE smuggling ambiguity.
            if contentLength != nil { throw .badRequest("both Transfer-Encoding and Content-Length") }
            try checkTransferCodings(transferEncodings)
            return .chunked
        }
        guard let contentLength else { return .none }
        // RFC 9110 §8.6: repeated values, even equal ones ("5, 5" or two lines), MAY be
        // rejected; they are, since a peer that merges them differently would see another body.
        if contentLengthCount > 1 { throw .badRequest("more than one Content-Length") }
        guard let length = Self.parseContentLength(contentLength) else {
            throw .badRequest("invalid Content-Length")
        }
        if length > limits.maxBodyBytes { throw .contentTooLarge }
        return .length(length)
    }

    /// Checks the transfer codings of all `Transfer-Encoding` lines, in order (RFC 9112 §6.1):
    /// `chunked` must be last (else 400, §6.3) and appear once (a sender MUST NOT apply it
    /// twice, so `chunked, chunked` is 400); any other coding is not implemented (501).
    private func checkTransferCodings(_ values: [String]) throws(HTTPParseError) {
        var codings = 0
        var chunkedCount = 0
        var lastIsChunked = false
        var unsupported: String?
        for value in values {
            try HTTPSyntax.forEachListElement(value) { (coding) throws(HTTPParseError) in
                // transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9110 §10.1.4).
                // Lists are split at every comma, so a quoted parameter value holding a comma
                // makes the coding malformed: 400, which is acceptable for so odd a request.
                let bytes = coding.utf8
                let nameEnd = bytes.firstIndex { !HTTPSyntax.isTokenChar($0) } ?? bytes.endIndex
                let name = bytes[..<nameEnd]
                let parameters = bytes[nameEnd...]
                guard !name.isEmpty, HTTPSyntax.isParameterList(parameters, valueRequired: true) else {
                    throw .badRequest("malformed Transfer-Encoding")
                }
                codings += 1
                if HTTPSyntax.equalsIgnoringCase(name, "chunked".utf8) {
                    guard parameters.isEmpty else { throw .badRequest("parameters on chunked") }
                    chunkedCount += 1
                    lastIsChunked = true
                } else {
                    lastIsChunked = false
                    if unsupported == nil { unsupported = String(decoding: name, as: UTF8.self) }
                }
            }
        }
        guard codings > 0, lastIsChunked else {
            throw .badRequest("chunked is not the final transfer coding")
        }
        guard chunkedCount == 1 else { throw .badRequest("chunked applied more than once") }
        if let unsupported { throw .notImplemented(unsupported) }
    }

    /// `Content-Length = 1*DIGIT` (RFC 9110 §8.6), or nil when malformed or above `Int.max`.
    static func parseContentLength(_ value: String) -> Int? {
        guard !value.isEmpty else { return nil }
        var length = 0
        for byte in value.utf8 {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            length = sum
        }
        return length
    }

    /// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), checked by its bytes: reg-name, IP
    /// literal and port characters only. An empty value is allowed (§7.2).
    static func isValidHost(_ value: String) -> Bool {
        value.utf8.allSatisfy { byte in
            HTTPSyntax.isTargetByte(byte)
                && byte != UInt8(ascii: "/") && byte != UInt8(ascii: "?") && byte != UInt8(ascii: "@")
        }
    }
}
