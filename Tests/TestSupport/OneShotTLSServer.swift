import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TLS server on 127.0.0.1 (port 0) for one connection: completes the handshake with
/// `certificates`, reads the request head, writes `answer`, then closes with or without a
/// close_notify (many real servers skip it after an answer framed by the close).
package final class OneShotTLSServer: @unchecked Sendable {
    package let port: UInt16
    private let listener: Int32
    private let done = DispatchSemaphore(value: 0)

    package init(certificates: TestCertificates, answer: [UInt8], closeNotify: Bool) throws {
        guard let context = SSL_CTX_new(TLS_server_method()),
              SSL_CTX_use_certificate_chain_file(context, certificates.chainFile) == 1,
              SSL_CTX_use_PrivateKey_file(context, certificates.keyFile, SSL_FILETYPE_PEM) == 1 else {
            throw TestCertificates.CommandFailure(description: "cannot make the server's TLS context")
        }
        let (listener, port) = loopbackListener()
        self.listener = listener
        self.port = port
        let done = self.done
        nonisolated(unsafe) let shared = context
        Thread.detachNewThread {
            defer { SSL_CTX_free(shared); done.signal() }
            let client = accept(listener, nil, nil)
            guard client >= 0, let ssl = SSL_new(shared) else { return }
            defer { SSL_free(ssl); close(client) }
            SSL_set_fd(ssl, client)
            guard SSL_accept(ssl) == 1 else { return }
            var head: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !head.ends(with: [13, 10, 13, 10]) {
                let n = SSL_read(ssl, &buffer, Int32(buffer.count))
                guard n > 0 else { return }
                head += buffer[0..<Int(n)]
            }
            _ = answer.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            if closeNotify { SSL_shutdown(ssl) }
        }
    }

    /// Waits for the connection to be served, then closes the listener.
    package func finish() {
        done.wait()
        close(listener)
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
