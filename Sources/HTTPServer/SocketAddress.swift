#if canImport(Glibc)
import Glibc
#endif

/// A numeric IP address and port, as bound or as seen from a peer.
package struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: UInt16

    package init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `127.0.0.1:8080` or `[::1]:8080`.
    package var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Reads an address out of a `sockaddr_storage` filled by accept/getsockname.
    init?(_ storage: UnsafePointer<sockaddr_storage>) {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(storage).assumingMemoryBound(to: sockaddr_in.self).pointee
            var addr = sin.sin_addr
            guard inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count)) != nil else { return nil }
            self.init(host: String(cString: buffer), port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = UnsafeRawPointer(storage).assumingMemoryBound(to: sockaddr_in6.self).pointee
            var addr = sin6.sin6_addr
            guard inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count)) != nil else { return nil }
            self.init(host: String(cString: buffer), port: UInt16(bigEndian: sin6.sin6_port))
        default:
            return nil
        }
    }
}
