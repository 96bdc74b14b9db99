/// Answers one request. Call `send` exactly once, from any thread; the response goes out after
/// every earlier response on the same connection (pipelined requests are answered in order,
/// because the next request is not read until this one is answered).
package struct HTTPResponder: Sendable {
    let connection: HTTPConnection
    let generation: UInt64

    /// The peer's address, for logs.
    package var peer: SocketAddress? { connection.peer }

    package func send(_ response: HTTPResponse) {
        connection.group.deliver(response, to: connection, generation: generation)
    }

    /// As `send`, for a thread that is not the server's (a completion of the work the answer
    /// waited for): when the connection is waiting for just this answer and the socket takes it,
    /// the answer is written on the calling thread, saving the hand-over to the connection's
    /// queue; otherwise it goes the way `send` goes.
    package func sendNow(_ response: HTTPResponse) {
        if !connection.answerDirectly(response, generation: generation) {
            connection.group.deliver(response, to: connection, generation: generation)
        }
    }
}

/// Handles a complete request. Runs on the connection's serial queue: do slow work elsewhere
/// and answer through the responder.
package typealias HTTPHandler = @Sendable (HTTPRequest, HTTPResponder) -> Void
