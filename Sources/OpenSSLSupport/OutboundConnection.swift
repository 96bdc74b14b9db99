internal import COpenSSL
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// A blocking client connection to `host:port`, plain or TLS, for one request at a time (the
/// `selftest` and `send` commands). TLS verifies the server's chain against the system's CA
/// store or one CA file, and the server's name: a DNS name against the certificate's names, an
/// IP address against its IP addresses.
package final class OutboundConnection {
    package struct Failure: Error, CustomStringConvertible, Equatable {
        package let description: String
        /// The deadline passed (as opposed to the peer or the network failing).
        package var timedOut = false

        package init(description: String, timedOut: Bool = false) {
            self.description = description
            self.timedOut = timedOut
        }
    }

    private let fd: Int32
    private var tls: (context: OpaquePointer, ssl: OpaquePointer)?
    /// Every step from connect to the last read ends by this time (uptime nanoseconds): a
    /// server that trickles its handshake or its answer a byte at a time is given up on.
    private let deadline: UInt64
    private let timeoutSeconds: Int

    /// Connects (each resolved address in turn) and, if `tls`, completes the handshake; all of
    /// it, and every later read and write, ends within `timeoutSeconds` of this call.
    package init(host: String, port: UInt16, tls: Bool, caFile: String? = nil, timeoutSeconds: Int = 10) throws(Failure) {
        self.timeoutSeconds = timeoutSeconds
        deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(timeoutSeconds, 0)) * 1_000_000_000
        fd = try Self.connect(host: host, port: port, deadline: deadline, timeoutSeconds: timeoutSeconds)
        guard tls else { return }
        do throws(Failure) {
            self.tls = try handshake(host: host, caFile: caFile)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// True once the time given at `init` has run out.
    package var deadlinePassed: Bool { DispatchTime.now().uptimeNanoseconds >= deadline }

    deinit {
        if let tls {
            // A close_notify, so the server sees a clean end (one try: the socket does not block).
            ERR_clear_error()
            _ = SSL_shutdown(tls.ssl)
            ERR_clear_error()
            SSL_free(tls.ssl)
            SSL_CTX_free(tls.context)
        }
        Glibc.close(fd)
    }

    package func write(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n: Int = bytes[offset...].withUnsafeBytes { chunk in
                if let tls { return Int(SSL_write(tls.ssl, chunk.baseAddress, Int32(min(chunk.count, Int(Int32.max))))) }
                return send(fd, chunk.baseAddress, chunk.count, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            let saved = errno
            try waitFor(result: n, errno: saved, what: "write")
        }
    }

    /// Up to `limit` bytes; empty at the end of the stream (a TLS close_notify or, as many
    /// servers do, a close without one after the answer: the caller's framing decides whether
    /// the answer was complete).
    package func read(limit: Int = 16_384) throws(Failure) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: limit)
        while true {
            ERR_clear_error()
            let n: Int = buffer.withUnsafeMutableBytes { raw in
                if let tls { return Int(SSL_read(tls.ssl, raw.baseAddress, Int32(raw.count))) }
                return recv(fd, raw.baseAddress, raw.count, 0)
            }
            if n > 0 { return Array(buffer[0..<n]) }
            if n == 0, tls == nil { return [] }
            let saved = errno
            if let tls, SSL_get_error(tls.ssl, Int32(n)) == SSL_ERROR_ZERO_RETURN { return [] }
            try waitFor(result: n, errno: saved, what: "read")
        }
    }

    /// After a call that made no progress: waits (against the deadline) for the socket to be
    /// ready when the call would block, and throws for anything else.
    private func waitFor(result: Int, errno saved: Int32, what: String) throws(Failure) {
        var events: Int16
        if let tls {
            switch SSL_get_error(tls.ssl, Int32(result)) {
            case SSL_ERROR_WANT_READ: events = Int16(POLLIN)
            case SSL_ERROR_WANT_WRITE: events = Int16(POLLOUT)
            case SSL_ERROR_SSL: throw Failure(description: "\(what): \(openSSLErrors())")
            case SSL_ERROR_SYSCALL where saved != 0: throw Failure(description: "\(what): \(String(cString: strerror(saved)))")
            default: throw Failure(description: "\(what): the connection closed")
            }
        } else {
            switch saved {
            case EINTR: return
            case EAGAIN, EWOULDBLOCK: events = what == "read" ? Int16(POLLIN) : Int16(POLLOUT)
            default: throw Failure(description: "\(what): \(String(cString: strerror(saved)))")
            }
        }
        try Self.wait(fd, for: events, deadline: deadline, timeoutSeconds: timeoutSeconds, what: what)
    }

    /// Polls `fd` for `events` until ready or the deadline; EINTR polls again.
    private static func wait(_ fd: Int32, for events: Int16, deadline: UInt64, timeoutSeconds: Int, what: String) throws(Failure) {
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { throw Failure(description: "\(what): timed out after \(timeoutSeconds) s", timedOut: true) }
            var poller = pollfd(fd: fd, events: events, revents: 0)
            let milliseconds = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return }  // readable, writable, or an error the next call reports
            if ready < 0 && errno != EINTR { throw Failure(description: "\(what): poll: \(String(cString: strerror(errno)))") }
        }
    }

    private static func connect(host: String, port: UInt16, deadline: UInt64, timeoutSeconds: Int) throws(Failure) -> Int32 {
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
        var addresses: [addrinfo] = []
        var next = list
        while let entry = next {
            addresses.append(entry.pointee)
            next = entry.pointee.ai_next
        }
        var reasons: [String] = []
        for (index, info) in addresses.enumerated() {
            // Each address gets an equal share of the time left, so one that drops SYNs (a
            // firewalled IPv6 route, say) does not use up the time of those after it.
            let now = DispatchTime.now().uptimeNanoseconds
            let attemptDeadline = now + (deadline > now ? (deadline - now) / UInt64(addresses.count - index) : 0)
            let fd = socket(info.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { reasons.append("socket: \(String(cString: strerror(errno)))"); continue }
            let address = Self.numeric(info) ?? host
            if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) != 0 {
                guard errno == EINPROGRESS else {
                    reasons.append("\(address): \(String(cString: strerror(errno)))")
                    Glibc.close(fd)
                    continue
                }
                do throws(Failure) {
                    try wait(fd, for: Int16(POLLOUT), deadline: attemptDeadline, timeoutSeconds: timeoutSeconds, what: "connect")
                } catch {
                    let waited = (DispatchTime.now().uptimeNanoseconds - now) / 1_000_000
                    reasons.append("\(address): " + (error.timedOut ? "no answer to connect within \(waited) ms" : error.description))
                    Glibc.close(fd)
                    continue
                }
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0 {
                    reasons.append("\(address): \(String(cString: strerror(error == 0 ? errno : error)))")
                    Glibc.close(fd)
                    continue
                }
            }
            // Non-blocking from here on: every call waits in poll, against the deadline.
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
        throw Failure(description: "cannot connect to \(host) port \(port): \(reasons.joined(separator: "; "))")
    }

    /// `1.2.3.4:443` or `[::1]:443`, as the resolver gave it.
    private static func numeric(_ info: addrinfo) -> String? {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        guard getnameinfo(info.ai_addr, info.ai_addrlen, &host, socklen_t(host.count), &service, socklen_t(service.count),
                          NI_NUMERICHOST | NI_NUMERICSERV) == 0 else { return nil }
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let port = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return info.ai_family == AF_INET6 ? "[\(name)]:\(port)" : "\(name):\(port)"
    }

    private func handshake(host: String, caFile: String?) throws(Failure) -> (OpaquePointer, OpaquePointer) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Failure(description: "SSL_CTX_new: \(openSSLErrors())") }
        // Many servers close without close_notify after an answer framed by the close; OpenSSL 3
        // would call that an error ("unexpected eof"). The answer's own framing says whether
        // anything is missing.
        // (Set before SSL_new, which copies the context's options.)
        xwh_ssl_ctx_ignore_unexpected_eof(context)
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
        while true {
            ERR_clear_error()
            let rc = SSL_connect(ssl)
            if rc == 1 { break }
            let saved = errno
            let code = SSL_get_error(ssl, rc)
            do throws(Failure) {
                switch code {
                case SSL_ERROR_WANT_READ: try Self.wait(fd, for: Int16(POLLIN), deadline: deadline, timeoutSeconds: timeoutSeconds, what: "handshake")
                case SSL_ERROR_WANT_WRITE: try Self.wait(fd, for: Int16(POLLOUT), deadline: deadline, timeoutSeconds: timeoutSeconds, what: "handshake")
                default:
                    let verify = SSL_get_verify_result(ssl)
                    if verify != Int(X509_V_OK) {
                        ERR_clear_error()
                        let reason = String(cString: X509_verify_cert_error_string(verify))
                        throw Failure(description: "certificate verify failed: \(reason)")
                    }
                    let reason = code == SSL_ERROR_SSL ? openSSLErrors()
                        : (saved == 0 ? "connection closed" : String(cString: strerror(saved)))
                    ERR_clear_error()
                    throw Failure(description: reason)
                }
            } catch {
                throw Failure(description: "TLS handshake with \(host): \(error.description)", timedOut: error.timedOut)
            }
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
