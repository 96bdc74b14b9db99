/// Answers one request. Call `send` exactly once, from any thread; the response goes out after
/// every earlier response on the same connection (pipelined requests are answered in order,
/// because the next request is not read until this one is answered).
public struct HTTPResponder: Sendable {
    let connection: HTTPConnection
    let generation: UInt64

    /// The peer's address, for logs.
    public var peer: SocketAddress? { connection.peer }

    public func send(_ response: HTTPResponse) {
        connection.group.deliver(response, to: connection, generation: generation)
    }
}

/// Handles a complete request. Runs on the connection's serial queue: do slow work elsewhere
/// and answer through the responder.
public typealias HTTPHandler = @Sendable (HTTPRequest, HTTPResponder) -> Void
