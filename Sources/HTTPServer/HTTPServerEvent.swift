import SystemSupport
/// Things the server reports so the daemon can log them. The server itself never logs.
package enum HTTPServerEvent: Sendable, Equatable {
    /// A request was refused for its framing or size; the connection is closed after the answer.
    case rejected(status: Int, reason: String, peer: SocketAddress?)
    /// A connection timed out while `phase` ("head", "body", "write") was in progress.
    case timedOut(phase: String, peer: SocketAddress?)
    /// A connection was refused because `maxConnections` were already open.
    case connectionLimitReached(peer: SocketAddress?)
    /// A connection was closed at once because its descriptor was within `descriptorReserve` of the
    /// soft descriptor limit (`limit`).
    case descriptorReserveReached(peer: SocketAddress?, limit: Int)
    /// `accept` failed in a way that makes the server back off briefly (EMFILE, ENFILE, ENOMEM…).
    case acceptFailed(SystemCallError)
    /// A TLS handshake or record failed (plain HTTP on the TLS port, an old protocol version,
    /// no shared cipher, a bad record); the connection is closed.
    case tlsFailed(reason: String, peer: SocketAddress?)
    /// `shutdown` stopped accepting and told every open connection to finish what it is doing.
    case draining(connections: Int)
}
