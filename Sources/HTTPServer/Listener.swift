import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Creates listening sockets. The returned descriptor is owned by the caller (the server closes
/// it in its accept source's cancel handler).
enum Listener {
    /// Binds `host:port` (numeric IPv4 or IPv6 address; port 0 picks a free port) with
    /// `SO_REUSEADDR`, non-blocking and close-on-exec, and starts listening.
    static func open(host: String, port: UInt16, backlog: Int32) throws(SystemCallError) -> (fd: Int32, address: SocketAddress) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            // getaddrinfo reports through its return value; EINVAL is the nearest errno.
            throw SystemCallError(call: "getaddrinfo(\(host))", errno: rc == EAI_SYSTEM ? Glibc.errno : EINVAL)
        }
        defer { freeaddrinfo(list) }
        let info = first.pointee
        let fd = socket(info.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .last("socket") }
        do throws(SystemCallError) {
            var one: Int32 = 1
            guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw .last("setsockopt(SO_REUSEADDR)")
            }
            if info.ai_family == AF_INET6 {
                // "::" should take IPv4 too; a specific v6 address is unaffected.
                var zero: Int32 = 0
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            }
            guard bind(fd, info.ai_addr, info.ai_addrlen) == 0 else { throw .last("bind(\(SocketAddress(host: host, port: port)))") }
            guard listen(fd, backlog) == 0 else { throw .last("listen") }
            return (fd, try boundAddress(fd))
        } catch {
            close(fd)
            throw error
        }
    }

    /// The local address of a bound socket.
    static func boundAddress(_ fd: Int32) throws(SystemCallError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw .last("getsockname") }
        guard let address = SocketAddress(&storage) else { throw SystemCallError(call: "getsockname", errno: EAFNOSUPPORT) }
        return address
    }
}
