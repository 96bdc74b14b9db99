import COpenSSL
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// A blocking client connection to `host:port`, plain or TLS, for one request at a time (the
/// `selftest` and `send` commands). TLS verifies the server's chain against the system's CA
/// store or one CA file, and the server's name: a DNS name against the certificate's names, an
/// IP address against its IP addresses.
public final class OutboundConnection {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    private let fd: Int32
    private var tls: (context: OpaquePointer, ssl: OpaquePointer)?

    /// Connects (each resolved address in turn) and, if `tls`, completes the handshake; every
    /// step and every later read or write waits at most `timeoutSeconds`.
    public init(host: String, port: UInt16, tls: Bool, caFile: String? = nil, timeoutSeconds: Int = 10) throws(Failure) {
        fd = try Self.connect(host: host, port: port, timeoutSeconds: timeoutSeconds)
        guard tls else { return }
        do throws(Failure) {
            self.tls = try Self.handshake(fd: fd, host: host, caFile: caFile)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit {
        if let tls {
            SSL_free(tls.ssl)
            SSL_CTX_free(tls.context)
        }
        Glibc.close(fd)
    }

    public func write(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n: Int = bytes[offset...].withUnsafeBytes { chunk in
                if let tls { return Int(SSL_write(tls.ssl, chunk.baseAddress, Int32(chunk.count))) }
                return send(fd, chunk.baseAddress, chunk.count, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else {
                if n < 0, tls == nil, errno == EINTR { continue }
                throw failure("write", result: n)
            }
            offset += n
        }
    }

    /// Up to `limit` bytes; empty at the end of the stream (a TLS close_notify or, as many
    /// servers do, a plain close after the answer).
    public func read(limit: Int = 16_384) throws(Failure) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: limit)
        while true {
            let n: Int = buffer.withUnsafeMutableBytes { raw in
                if let tls { return Int(SSL_read(tls.ssl, raw.baseAddress, Int32(raw.count))) }
                return recv(fd, raw.baseAddress, raw.count, 0)
            }
            if n > 0 { return Array(buffer[0..<n]) }
            if n == 0, tls == nil { return [] }
            if let tls {
                let code = SSL_get_error(tls.ssl, Int32(n))
                if code == SSL_ERROR_ZERO_RETURN { return [] }
                // A close without close_notify after a complete answer: the caller decides.
                if code == SSL_ERROR_SYSCALL, errno == 0 || n == 0 { ERR_clear_error(); return [] }
            } else if errno == EINTR {
                continue
            }
            throw failure("read", result: n)
        }
    }

    private func failure(_ what: String, result: Int) -> Failure {
        let saved = errno
        if saved == EAGAIN || saved == EWOULDBLOCK { return Failure(description: "\(what): timed out") }
        if let tls {
            let code = SSL_get_error(tls.ssl, Int32(result))
            if code == SSL_ERROR_SSL { return Failure(description: "\(what): \(openSSLErrors())") }
        }
        return Failure(description: "\(what): \(String(cString: strerror(saved)))")
    }

    private static func connect(host: String, port: UInt16, timeoutSeconds: Int) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, list != nil else {
            throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var reasons: [String] = []
        var next = list
        while let entry = next {
            let info = entry.pointee
            next = info.ai_next
            let fd = socket(info.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { reasons.append("socket: \(String(cString: strerror(errno)))"); continue }
            var storage = sockaddr_storage()
            memcpy(&storage, info.ai_addr, Int(info.ai_addrlen))
            let address = SocketAddress(&storage).map { "\($0)" } ?? host
            if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) != 0 {
                guard errno == EINPROGRESS else {
                    reasons.append("\(address): \(String(cString: strerror(errno)))")
                    Glibc.close(fd)
                    continue
                }
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&poller, 1, Int32(timeoutSeconds * 1000))
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if ready <= 0 {
                    reasons.append("\(address): connect timed out after \(timeoutSeconds) s")
                    Glibc.close(fd)
                    continue
                }
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0 {
                    reasons.append("\(address): \(String(cString: strerror(error == 0 ? errno : error)))")
                    Glibc.close(fd)
                    continue
                }
            }
            // Blocking from here on, each call bounded by the timeout.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
        throw Failure(description: "cannot connect to \(host) port \(port): \(reasons.joined(separator: "; "))")
    }

    private static func handshake(fd: Int32, host: String, caFile: String?) throws(Failure) -> (OpaquePointer, OpaquePointer) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Failure(description: "SSL_CTX_new: \(openSSLErrors())") }
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw Failure(description: "SSL_new: \(openSSLErrors())")
        }
        var done = false
        defer { if !done { SSL_free(ssl); SSL_CTX_free(context) } }
        guard xwh_ssl_ctx_set_versions(context, TLS1_2_VERSION, 0) == 1 else {
            throw Failure(description: "cannot set TLS versions: \(openSSLErrors())")
        }
        SSL_set_verify(ssl, SSL_VERIFY_PEER, nil)
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw Failure(description: "cannot load CA certificates from \(caFile): \(openSSLErrors())")
            }
        } else {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw Failure(description: "cannot load the system's CA certificates: \(openSSLErrors())")
            }
        }
        if Self.isIPAddress(host) {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 else {
                throw Failure(description: "cannot verify against IP address \(host)")
            }
        } else {
            guard xwh_ssl_set_host_name(ssl, host) == 1, SSL_set1_host(ssl, host) == 1 else {
                throw Failure(description: "cannot verify against host name \(host): \(openSSLErrors())")
            }
        }
        guard SSL_set_fd(ssl, fd) == 1 else { throw Failure(description: "SSL_set_fd: \(openSSLErrors())") }
        let rc = SSL_connect(ssl)
        guard rc == 1 else {
            let verify = SSL_get_verify_result(ssl)
            if verify != Int(X509_V_OK) {
                ERR_clear_error()
                let reason = String(cString: X509_verify_cert_error_string(verify))
                throw Failure(description: "TLS handshake with \(host): certificate verify failed: \(reason)")
            }
            let saved = errno
            let code = SSL_get_error(ssl, rc)
            let reason = code == SSL_ERROR_SSL ? openSSLErrors()
                : (saved == EAGAIN ? "timed out" : saved == 0 ? "connection closed" : String(cString: strerror(saved)))
            ERR_clear_error()
            throw Failure(description: "TLS handshake with \(host): \(reason)")
        }
        done = true
        return (context, ssl)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
