import OpenSSLSupport

/// What carries a connection's bytes between the socket and HTTP/1.1: the socket's bytes as
/// they are (`PlainTransport`), or TLS records through memory BIOs (`TLSTransport`). The HTTP
/// layer (`HTTPConnection`) does its own socket reads and writes, gives the transport what it
/// read and the answers it makes, and sends whatever the transport put in its output; it does
/// not know which transport it has. Used only on the connection's queue.
protocol ConnectionTransport: AnyObject {
    /// False while a handshake is in progress: no request bytes can arrive yet.
    var isEstablished: Bool { get }
    /// Bytes received that are not request bytes yet (part of a TLS record).
    var hasBufferedInput: Bool { get }
    /// Takes bytes read from the socket, passes every request byte to `deliver`, and appends
    /// to `output` what the transport must send on its own (handshake messages, alerts,
    /// answers to a KeyUpdate).
    func receive(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8], deliver: (UnsafeRawBufferPointer) -> Void) -> TransportInput
    /// Appends `bytes` (an answer) to `output` as they go on the wire; false when the
    /// transport can no longer send (the connection then closes).
    func send(_ bytes: [UInt8], output: inout [UInt8]) -> Bool
    /// Appends the transport's own end of stream (TLS close_notify) to `output`.
    func finish(output: inout [UInt8])
}

enum TransportInput: Equatable {
    /// Waiting for more bytes from the peer.
    case more
    /// The peer ended the stream at the transport's level (TLS close_notify).
    case closed
    /// A handshake or record error; an alert, if any, is in the output.
    case failed(String)
}

/// Plain TCP: the socket's bytes are the request's bytes. Holds nothing, so one serves all.
final class PlainTransport: ConnectionTransport, Sendable {
    static let shared = PlainTransport()

    var isEstablished: Bool { true }
    var hasBufferedInput: Bool { false }

    func receive(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8], deliver: (UnsafeRawBufferPointer) -> Void) -> TransportInput {
        deliver(bytes)
        return .more
    }

    func send(_ bytes: [UInt8], output: inout [UInt8]) -> Bool {
        if output.isEmpty {
            output = bytes  // shares the answer's storage: no copy
        } else {
            output.append(contentsOf: bytes)
        }
        return true
    }

    func finish(output: inout [UInt8]) {}
}

/// TLS (OpenSSL through memory BIOs, `TLSSession`): socket bytes are records, decrypted into
/// `plaintext`, a buffer its connection group owns.
final class TLSTransport: ConnectionTransport {
    private let session: TLSSession
    private let plaintext: UnsafeMutableRawBufferPointer

    init(session: TLSSession, plaintext: UnsafeMutableRawBufferPointer) {
        self.session = session
        self.plaintext = plaintext
    }

    var isEstablished: Bool { session.handshakeComplete }
    var hasBufferedInput: Bool { session.hasBufferedInput }

    func receive(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8], deliver: (UnsafeRawBufferPointer) -> Void) -> TransportInput {
        let result = session.receive(bytes, scratch: plaintext, plaintext: deliver)
        session.takeOutput(into: &output)
        switch result {
        case .needMore: return .more
        case .closed: return .closed
        case let .failed(reason): return .failed(reason)
        }
    }

    func send(_ bytes: [UInt8], output: inout [UInt8]) -> Bool {
        // Sealing only fails on a session that is not (or no longer) established.
        guard session.seal(bytes) else { return false }
        session.takeOutput(into: &output)
        return true
    }

    func finish(output: inout [UInt8]) {
        session.shutdown()
        session.takeOutput(into: &output)
    }
}
