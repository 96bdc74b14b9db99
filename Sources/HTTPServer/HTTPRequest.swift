/// How the body of a request is delimited (RFC 9112 §6.3).
package enum HTTPBodyFraming: Sendable, Equatable {
    /// Neither `Content-Length` nor `Transfer-Encoding`: the body is empty.
    case none
    /// `Content-Length`: exactly this many bytes follow the head (0 is kept as `.length(0)`).
    case length(Int)
    /// `Transfer-Encoding: chunked`: the body is a sequence of chunks ended by a last chunk.
    case chunked
}

/// The request line and header section of a request, validated and interpreted.
package struct HTTPRequestHead: Sendable, Equatable {
    /// The method token, case preserved (methods are case-sensitive, RFC 9110 §9.1).
    package var method: String
    /// The request-target as received: origin-form (`/path?query`), absolute-form
    /// (`http://host/path`) or `*` (OPTIONS only).
    package var target: String
    /// `HTTP/1.0` or `HTTP/1.1`; later 1.x minor versions are reported as 1.1.
    package var version: HTTPVersion
    /// Every header field line, in order.
    package var headers: HTTPHeaders
    /// How the body is delimited.
    package var framing: HTTPBodyFraming
    /// Whether the connection may carry another request after this one: for HTTP/1.1 unless a
    /// `Connection` field has the token `close`; for HTTP/1.0 only when a `Connection` field has
    /// the token `keep-alive` and none has `close` (RFC 9112 §9.3).
    package var keepAlive: Bool
    /// An HTTP/1.1 request with `Expect: 100-continue`: the client may wait for
    /// `100 Continue` before sending the body. HTTP/1.0 requests never expect it (RFC 9110 §10.1.1).
    package var expectsContinue: Bool

    package init(
        method: String, target: String, version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(), framing: HTTPBodyFraming = .none,
        keepAlive: Bool = true, expectsContinue: Bool = false
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }

    /// The path of the target without its query, for routing: `/a/b` for `/a/b?c`, also for
    /// `http://host/a/b?c`; `/` for an absolute-form target with an empty path; `*` for `*`.
    package var path: String {
        // The usual origin-form target without a query is its own path (no copy, no search by
        // Character: the target holds only the visible ASCII the parser let through).
        let utf8 = target.utf8
        if utf8.first == UInt8(ascii: "/") && !utf8.contains(UInt8(ascii: "?")) {
            return target
        }
        var rest = Substring(target)
        if !rest.hasPrefix("/") && rest != "*" {
            // absolute-form: skip "scheme://authority".
            if let schemeEnd = rest.firstRange(of: "://") {
                rest = rest[schemeEnd.upperBound...]
                rest = rest[(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)...]
            }
        }
        if let query = rest.firstIndex(of: "?") {
            rest = rest[..<query]
        }
        return rest.isEmpty ? "/" : String(rest)
    }
}

/// A complete request: its head and its body.
package struct HTTPRequest: Sendable, Equatable {
    package var head: HTTPRequestHead
    /// The body bytes exactly as sent, after removing the chunked framing.
    package var body: [UInt8]

    package init(head: HTTPRequestHead, body: [UInt8] = []) {
        self.head = head
        self.body = body
    }
}
