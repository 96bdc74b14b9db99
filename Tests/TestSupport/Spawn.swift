import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts `arguments` (the first is the program's path) as an operator's shell would: an empty
/// signal mask and SIGHUP, SIGINT and SIGTERM at their default actions (a test runner may block
/// or ignore them, and children inherit that). `environment` nil: this process's. `actions`
/// sets up the child's descriptors. Returns the pid; the caller reaps it.
package func spawnProcess(_ arguments: [String], environment: [String]? = nil,
                         actions: UnsafePointer<posix_spawn_file_actions_t>? = nil) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for number in [SIGHUP, SIGINT, SIGTERM] { sigaddset(&defaults, number) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var argv = arguments.map { strdup($0) } + [nil]
    var envp = (environment ?? []).map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = withProcessSpawnLock {
        environment == nil ? posix_spawn(&pid, arguments[0], actions, &attributes, &argv, environ)
            : posix_spawn(&pid, arguments[0], actions, &attributes, &argv, &envp)
    }
    guard rc == 0 else { throw RawHTTPClient.ClientError(description: "posix_spawn \(arguments[0]): \(String(cString: strerror(rc)))") }
    return pid
}

/// A TCP listener on 127.0.0.1 with a port the kernel picked: its descriptor and port.
package func loopbackListener(backlog: Int32 = 1) -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    listen(fd, backlog)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return (fd, UInt16(bigEndian: address.sin_port))
}
