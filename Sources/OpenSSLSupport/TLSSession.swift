internal import COpenSSL

/// One connection's TLS state. The connection keeps doing its own non-blocking socket reads and
/// writes; ciphertext passes through two memory BIOs, so TLS adds no I/O paths of its own:
/// `receive` takes bytes read from the socket and yields plaintext for the parser, `seal`
/// turns an answer into records, and `takeOutput` hands over what must be sent (records,
/// handshake messages, alerts). Used only on its connection's queue.
package final class TLSSession {
    package enum Received: Equatable {
        /// Waiting for more bytes from the peer.
        case needMore
        /// The peer sent close_notify.
        case closed
        /// A handshake or record error; the alert, if any, is in the output.
        case failed(String)
    }

    private let ssl: OpaquePointer
    private var input: OpaquePointer
    private var output: OpaquePointer

    /// Ciphertext is fed in pieces of this size, each decrypted before the next, so the input
    /// BIO holds at most about one record plus a piece (a 64 KiB socket read would grow it to
    /// 85 KiB for good).
    private static let feedSize = 16 * 1024
    /// A BIO that grew beyond this is replaced by a fresh one once it is empty, so an idle
    /// connection does not keep the memory of its largest request or answer.
    private static let retainedBIOCapacity = 20 * 1024

    init?(context: OpaquePointer) {
        guard let ssl = SSL_new(context) else { return nil }
        guard let input = xwh_bio_new_retrying_mem() else { SSL_free(ssl); return nil }
        guard let output = xwh_bio_new_retrying_mem() else { BIO_free(input); SSL_free(ssl); return nil }
        SSL_set_bio(ssl, input, output)  // the SSL owns both BIOs from here
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        self.input = input
        self.output = output
    }

    deinit { SSL_free(ssl) }

    package var handshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Part of a record received and not yet decrypted.
    package var hasBufferedInput: Bool { BIO_ctrl_pending(input) > 0 || SSL_has_pending(ssl) == 1 }

    /// Negotiated protocol and cipher, e.g. `TLSv1.3 TLS_AES_256_GCM_SHA384`.
    package var negotiated: String {
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "-"
        return "\(version) \(cipher)"
    }

    /// Feeds `ciphertext` and passes every decrypted byte to `plaintext` (through `scratch`,
    /// which must not overlap `ciphertext`).
    package func receive(_ ciphertext: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
                 plaintext: (UnsafeRawBufferPointer) -> Void) -> Received {
        var offset = 0
        var result = Received.needMore
        feeding: while offset < ciphertext.count {
            let piece = min(ciphertext.count - offset, Self.feedSize)
            let n = BIO_write(input, ciphertext.baseAddress! + offset, Int32(piece))
            guard n > 0 else { return .failed("cannot buffer TLS input") }
            offset += Int(n)
            ERR_clear_error()
            while true {
                let n = SSL_read(ssl, scratch.baseAddress, Int32(scratch.count))
                if n > 0 {
                    plaintext(UnsafeRawBufferPointer(rebasing: scratch[0..<Int(n)]))
                    continue
                }
                switch SSL_get_error(ssl, n) {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                    continue feeding
                case SSL_ERROR_ZERO_RETURN:
                    result = .closed
                default:
                    result = .failed(openSSLErrors())
                }
                break feeding
            }
        }
        if BIO_ctrl_pending(input) == 0 && xwh_bio_mem_capacity(input) > Self.retainedBIOCapacity,
           let fresh = xwh_bio_new_retrying_mem() {
            SSL_set0_rbio(ssl, fresh)  // frees the old one
            input = fresh
        }
        return result
    }

    /// Encrypts `bytes` into the output. False if the session cannot send (not yet or no longer
    /// established).
    package func seal(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        ERR_clear_error()
        let n = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard n == bytes.count else {
            ERR_clear_error()
            return false
        }
        return true
    }

    /// Queues close_notify (sent before the connection closes after an answer).
    package func shutdown() {
        ERR_clear_error()
        if handshakeComplete { _ = SSL_shutdown(ssl) }
        ERR_clear_error()
    }

    /// Moves everything waiting to be sent onto the end of `bytes`.
    package func takeOutput(into bytes: inout [UInt8]) {
        var data: UnsafeMutablePointer<CChar>?
        let pending = xwh_bio_pending_data(output, &data)
        guard pending > 0, let data else { return }
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: pending))  // one memcpy
        if xwh_bio_mem_capacity(output) > Self.retainedBIOCapacity, let fresh = xwh_bio_new_retrying_mem() {
            SSL_set0_wbio(ssl, fresh)  // frees the old one (a reset would clear all of it, every time)
            output = fresh
        } else {
            _ = xwh_bio_reset(output)
        }
    }
}
