/// Why `RequestParser` rejected a request; each case maps to one HTTP status.
///
/// Every case means the connection's framing can no longer be trusted: the server answers with
/// `status` and closes the connection (RFC 9112 §6.3, §9.6).
package enum HTTPParseError: Error, Equatable, CustomStringConvertible {
    /// 400 Bad Request: malformed syntax or framing. The text says what was wrong, for logs.
    case badRequest(String)
    /// 414 URI Too Long: the request line is longer than `HTTPLimits.maxRequestLineBytes`.
    case uriTooLong
    /// 431 Request Header Fields Too Large: the header or trailer section is over
    /// `HTTPLimits.maxHeaderBytes` or has more than `HTTPLimits.maxHeaderCount` fields.
    case headerFieldsTooLarge
    /// 413 Content Too Large: the body is, or would become, larger than `HTTPLimits.maxBodyBytes`.
    case contentTooLarge
    /// 501 Not Implemented: a transfer coding other than `chunked` (its name is attached).
    case notImplemented(String)
    /// 505 HTTP Version Not Supported: a well-formed version whose major number is not 1.
    case versionNotSupported
    /// 417 Expectation Failed: an `Expect` value other than `100-continue`.
    case expectationFailed

    /// The status code to answer with.
    package var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headerFieldsTooLarge: 431
        case .contentTooLarge: 413
        case .notImplemented: 501
        case .versionNotSupported: 505
        case .expectationFailed: 417
        }
    }

    /// The standard reason phrase for `status` (RFC 9110 §15, RFC 6585 §5).
    package var reasonPhrase: String {
        switch self {
        case .badRequest: "Bad Request"
        case .uriTooLong: "URI Too Long"
        case .headerFieldsTooLarge: "Request Header Fields Too Large"
        case .contentTooLarge: "Content Too Large"
        case .notImplemented: "Not Implemented"
        case .versionNotSupported: "HTTP Version Not Supported"
        case .expectationFailed: "Expectation Failed"
        }
    }

    /// Status, reason phrase and, where there is one, the specific cause.
    package var description: String {
        switch self {
        case .badRequest(let reason): "400 Bad Request: \(reason)"
        case .notImplemented(let coding): "501 Not Implemented: transfer coding \"\(coding)\""
        default: "\(status) \(reasonPhrase)"
        }
    }
}
