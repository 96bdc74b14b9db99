/// One outbound HTTP request.
package struct OutboundRequest: Sendable {
    package var method: String
    /// The full URL, sent as written (commas in `IDs=` stay literal).
    package var url: String
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]
    package var timeout: Duration

    package init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeout: Duration) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// An answer received from the server (any status).
package struct InboundResponse: Sendable {
    package var status: Int
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]

    package init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name`, ignoring ASCII case (Xero sends its headers lower case).
    package func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// Why no answer arrived.
package enum TransportFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer within the request timeout.
    case timedOut
    /// The connection failed or closed before an answer (the request may have been processed).
    case connection(String)
    /// The URL could not be used at all; nothing was sent.
    case invalidURL(String)

    package var description: String {
        switch self {
        case .timedOut: "no answer within the request timeout"
        case let .connection(reason): "connection failed: \(reason)"
        case let .invalidURL(url): "invalid URL \(url)"
        }
    }
}

/// Sends HTTP requests. The production transport is `URLSessionTransport`; tests may supply
/// their own. A transport never follows redirects (a redirect could carry the bearer token to
/// another host) and keeps no cookies.
package protocol HTTPTransport: Sendable {
    func send(_ request: OutboundRequest) async -> Result<InboundResponse, TransportFailure>
}
