/// One outbound HTTP request.
public struct OutboundRequest: Sendable {
    public var method: String
    /// The full URL, sent as written (commas in `IDs=` stay literal).
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var timeout: Duration

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeout: Duration) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// An answer received from the server (any status).
public struct InboundResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name`, ignoring ASCII case (Xero sends its headers lower case).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// Why no answer arrived.
public enum TransportFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer within the request timeout.
    case timedOut
    /// The connection failed or closed before an answer (the request may have been processed).
    case connection(String)
    /// The URL could not be used at all; nothing was sent.
    case invalidURL(String)

    public var description: String {
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
public protocol HTTPTransport: Sendable {
    func send(_ request: OutboundRequest) async -> Result<InboundResponse, TransportFailure>
}
