/// A response to send. The server adds `Content-Length`, `Date` and, when the connection is
/// to close, `Connection: close`; it never adds `Set-Cookie` or any body of its own.
package struct HTTPResponse: Sendable, Equatable {
    package var status: Int
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]
    /// Close the connection after this response.
    package var close: Bool

    package init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = [], close: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.close = close
    }

    package static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body && lhs.close == rhs.close
            && lhs.headers.count == rhs.headers.count
            && zip(lhs.headers, rhs.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The standard reason phrase for `status` (RFC 9110 §15).
    package static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }

    /// The response as bytes on the wire.
    func serialized(date: String, closing: Bool, keepAliveHeader: Bool = false, omitBody: Bool) -> [UInt8] {
        // Appended as bytes, not built as a string first: every answer passes here.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(96 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
                              + (omitBody ? 0 : body.count))
        func put(_ text: String) { bytes.append(contentsOf: text.utf8) }
        func endLine() { bytes.append(HTTPSyntax.cr); bytes.append(HTTPSyntax.lf) }
        put("HTTP/1.1 "); put(String(status)); put(" "); put(Self.reasonPhrase(status)); endLine()
        put("Date: "); put(date); endLine()
        for (name, value) in headers { put(name); put(": "); put(value); endLine() }
        put("Content-Length: "); put(String(body.count)); endLine()
        if closing { put("Connection: close"); endLine() } else if keepAliveHeader { put("Connection: keep-alive"); endLine() }
        endLine()
        if !omitBody { bytes.append(contentsOf: body) }
        return bytes
    }
}
