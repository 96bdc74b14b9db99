import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 client over one TCP connection, for tests: sends exact bytes and reads
/// responses exactly as they come, so tests can check framing, keep-alive and closing.
package final class RawHTTPClient {
    package struct Response: Sendable {
        package var status: Int
        package var headers: [(name: String, value: String)]
        package var body: [UInt8]
        package func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    package struct ClientError: Error, CustomStringConvertible {
        package let description: String
        package init(description: String) { self.description = description }
    }

    package private(set) var fd: Int32
    private var buffer: [UInt8] = []
    /// After `startTLS`: every byte goes through this session (SSL*) and its two memory BIOs, so
    /// a test can hold back or split what goes on the wire.
    private var ssl: OpaquePointer?
    private var sslContext: OpaquePointer?
    private var tlsInput: OpaquePointer?
    private var tlsOutput: OpaquePointer?
    private var heldHandshake: [UInt8] = []
    /// After `startTLS`: whether the server ended the connection with close_notify.
    package private(set) var sawCloseNotify = false

    /// Connects to `host:port` (IPv4 or IPv6 literal) with a receive timeout of `timeout` seconds.
    package init(host: String = "127.0.0.1", port: UInt16, timeout: Double = 10) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &addr.sin6_addr)
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &addr.sin_addr)
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0 else {
            let e = errno
            close()  // deinit runs for a failed init too; close() makes the second close a no-op
            throw ClientError(description: "connect to \(host):\(port): errno \(e)")
        }
    }

    deinit { close() }

    /// Closes the connection now (also done on deinit).
    package func close() {
        if let ssl { SSL_free(ssl) }
        if let sslContext { SSL_CTX_free(sslContext) }
        ssl = nil
        sslContext = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sends `bytes` (over TLS once `startTLS` ran).
    package func send(_ bytes: [UInt8]) throws {
        if ssl != nil {
            try sendRaw(try sealed(bytes))
        } else {
            try sendRaw(bytes)
        }
    }

    /// Sends bytes on the socket as they are, bypassing TLS (part of a record, say).
    package func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ClientError(description: "send: errno \(errno)") }
            offset += n
        }
    }

    package func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Half-closes the sending side.
    package func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes; returns false on EOF. Throws on timeout or error.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        if let ssl {
            while true {
                ERR_clear_error()
                let n = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
                if n > 0 {
                    buffer.append(contentsOf: chunk[0..<Int(n)])
                    return true
                }
                let error = SSL_get_error(ssl, n)
                try? sendRaw(takeTLSOutput())  // e.g. an answer to a KeyUpdate
                switch error {
                case SSL_ERROR_WANT_READ:
                    guard try receiveRaw() else { return false }  // closed without close_notify
                case SSL_ERROR_ZERO_RETURN:
                    sawCloseNotify = true
                    return false
                default:
                    throw ClientError(description: "SSL_read: \(Self.openSSLErrors())")
                }
            }
        }
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        if n == 0 { return false }
        if errno == ECONNRESET { return false }
        throw ClientError(description: "recv: errno \(errno) (timeout?)")
    }

    /// Reads one response (with a Content-Length body). Throws if the connection closes first.
    package func readResponse() throws -> Response {
        while true {
            if let end = findHeadEnd() {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = head.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst()
                let parts = statusLine.split(separator: " ", maxSplits: 2)
                guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError(description: "bad status line \(statusLine)") }
                let headers = lines.compactMap { line -> (name: String, value: String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
                while buffer.count < end + 4 + length {
                    guard try fill() else { throw ClientError(description: "closed inside a response body") }
                }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                return Response(status: status, headers: headers, body: body)
            }
            guard try fill() else { throw ClientError(description: "closed before a response") }
        }
    }

    /// Sends a request and reads its response, skipping any 100 Continue.
    package func exchange(_ bytes: [UInt8]) throws -> Response {
        try send(bytes)
        var response = try readResponse()
        while response.status == 100 { response = try readResponse() }
        return response
    }

    /// True when the server has already closed the connection and nothing is left to read; does
    /// not wait (plain TCP only).
    package var closedByPeerNow: Bool {
        guard buffer.isEmpty else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
    }

    /// True when the server has closed the connection (after any buffered responses).
    package func isClosedByPeer() throws -> Bool {
        guard buffer.isEmpty else { return false }
        return try !fill()
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// A POST with a Content-Length body and the given extra headers.
    package static func post(_ path: String, body: [UInt8], headers: [(String, String)] = [], close: Bool = false) -> [UInt8] {
        var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json; charset=utf-8\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    // MARK: TLS

    /// How `startTLS` shakes hands.
    package struct TLSOptions {
        /// Trust only this CA (PEM) and check the name; nil: no verification.
        package var caFile: String?
        package var serverName = "localhost"
        /// Protocol bounds, e.g. `TLS1_1_VERSION`; 0: OpenSSL's defaults.
        package var minVersion: Int32 = 0
        package var maxVersion: Int32 = 0
        /// TLS 1.2 cipher list; nil: OpenSSL's default.
        package var ciphers: String?
        /// A session from `tlsSession()` of an earlier connection, to resume.
        package var resume: OpaquePointer?
        package init(caFile: String? = nil) { self.caFile = caFile }
    }

    /// What a handshake agreed.
    package struct TLSInfo {
        package var version: String
        package var cipher: String
        package var alpn: String
        /// The server certificate's subject, e.g. `CN=localhost`.
        package var peerSubject: String
        /// Whether the handshake resumed `TLSOptions.resume` instead of a full handshake.
        package var resumed: Bool
    }

    /// Runs a TLS handshake on this connection; from then on `send` and the readers go through it.
    /// Throws with OpenSSL's reasons when the handshake fails. With `holdingFinalFlight` the
    /// client's last handshake message (TLS 1.3: its Finished) is not sent until
    /// `releaseHeldHandshake()`, so a test can act while the server is mid-handshake.
    @discardableResult
    package func startTLS(_ options: TLSOptions, holdingFinalFlight: Bool = false) throws -> TLSInfo {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw ClientError(description: "SSL_CTX_new") }
        sslContext = context
        guard xwh_ssl_ctx_set_versions(context, options.minVersion, options.maxVersion) == 1 else {
            throw ClientError(description: "cannot set versions: \(Self.openSSLErrors())")
        }
        // Old protocol versions need security level 0 on this side, so a refusal is the server's.
        let ciphers = options.ciphers ?? (options.maxVersion != 0 && options.maxVersion < TLS1_2_VERSION ? "DEFAULT:@SECLEVEL=0" : nil)
        if let ciphers, SSL_CTX_set_cipher_list(context, ciphers) != 1 {
            throw ClientError(description: "cipher list \(ciphers): \(Self.openSSLErrors())")
        }
        if let caFile = options.caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw ClientError(description: "CA file \(caFile): \(Self.openSSLErrors())")
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        }
        let protocols: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = SSL_CTX_set_alpn_protos(context, protocols, UInt32(protocols.count))
        guard let ssl = SSL_new(context) else { throw ClientError(description: "SSL_new") }
        self.ssl = ssl
        _ = xwh_ssl_set_host_name(ssl, options.serverName)
        if let resume = options.resume { SSL_set_session(ssl, resume) }
        if options.caFile != nil { _ = SSL_set1_host(ssl, options.serverName) }
        guard let input = xwh_bio_new_retrying_mem(), let output = xwh_bio_new_retrying_mem() else {
            throw ClientError(description: "BIO_new")
        }
        SSL_set_bio(ssl, input, output)
        tlsInput = input
        tlsOutput = output
        SSL_set_connect_state(ssl)
        while true {
            ERR_clear_error()
            let result = SSL_do_handshake(ssl)
            let flight = takeTLSOutput()
            if result == 1 {
                if holdingFinalFlight { heldHandshake = flight } else { try sendRaw(flight) }
                break
            }
            let error = SSL_get_error(ssl, result)
            let reasons = Self.openSSLErrors()
            try? sendRaw(flight)  // an alert, on failure
            if error == SSL_ERROR_WANT_READ {
                guard try receiveRaw() else { throw ClientError(description: "TLS handshake failed: the server closed the connection") }
                continue
            }
            let verify = SSL_get_verify_result(ssl)
            let detail = verify == X509_V_OK ? "" : " (verify: \(String(cString: X509_verify_cert_error_string(verify))))"
            throw ClientError(description: "TLS handshake failed: \(reasons)\(detail)")
        }
        var alpn: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpn, &alpnLength)
        var subject = ""
        if let peer = SSL_get1_peer_certificate(ssl) {
            defer { X509_free(peer) }
            if let bio = BIO_new(BIO_s_mem()) {
                defer { BIO_free(bio) }
                _ = xwh_x509_name_print(bio, X509_get_subject_name(peer))
                var bytes = [UInt8](repeating: 0, count: 1024)
                let n = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
                subject = String(decoding: bytes.prefix(Int(max(n, 0))), as: UTF8.self)
            }
        }
        return TLSInfo(
            version: String(cString: SSL_get_version(ssl)),
            cipher: SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "",
            alpn: alpn.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) } ?? "",
            peerSubject: subject,
            resumed: SSL_session_reused(ssl) == 1
        )
    }

    /// The session to resume on another connection (TLS 1.3 sends it after the handshake, so
    /// read an answer first). The caller frees it with `SSL_SESSION_free`.
    package func tlsSession() -> OpaquePointer? {
        ssl.flatMap { SSL_get1_session($0) }
    }

    /// Sends the handshake message `startTLS(_:holdingFinalFlight: true)` held back.
    package func releaseHeldHandshake() throws {
        try sendRaw(heldHandshake)
        heldHandshake = []
    }

    /// Sends a TLS 1.3 KeyUpdate that asks the server to update its keys too (it answers with one).
    package func sendKeyUpdate() throws {
        try sendRaw(try keyUpdateRecord())
    }

    /// The record of such a KeyUpdate, not sent (a test may send it in parts with `sendRaw`).
    package func keyUpdateRecord() throws -> [UInt8] {
        guard let ssl else { throw ClientError(description: "KeyUpdate: no TLS session") }
        ERR_clear_error()
        guard SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1, SSL_do_handshake(ssl) == 1 else {
            throw ClientError(description: "KeyUpdate: \(Self.openSSLErrors())")
        }
        return takeTLSOutput()
    }

    /// `bytes` as TLS records, not sent (a test may send them in parts with `sendRaw`).
    package func sealed(_ bytes: [UInt8]) throws -> [UInt8] {
        guard let ssl else { throw ClientError(description: "sealed: no TLS session") }
        ERR_clear_error()
        let n = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard n == bytes.count else { throw ClientError(description: "SSL_write: \(Self.openSSLErrors())") }
        return takeTLSOutput()
    }

    /// Everything TLS has written to its output BIO.
    private func takeTLSOutput() -> [UInt8] {
        guard let tlsOutput else { return [] }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { BIO_read(tlsOutput, $0.baseAddress, Int32($0.count)) }
            guard n > 0 else { return bytes }
            bytes += chunk[0..<Int(n)]
        }
    }

    /// Reads from the socket into the TLS input; false at the end of the stream.
    private func receiveRaw() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            _ = chunk.withUnsafeBytes { BIO_write(tlsInput, $0.baseAddress, Int32(n)) }
            return true
        }
        if n == 0 || errno == ECONNRESET { return false }
        throw ClientError(description: "recv: errno \(errno) (timeout?)")
    }

    private static func openSSLErrors() -> String {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.joined(separator: "; ")
    }
}
