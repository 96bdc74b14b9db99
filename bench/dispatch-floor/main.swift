// The ceiling of the receive path's design (POSIX sockets and Dispatch) on this machine: an
// HTTP/1.1 server that does nothing but frame requests by Content-Length and answer each with an
// empty 200, with connections spread over one serial queue per core and a DispatchSource read
// source per connection, as the daemon's connection core does. No parsing beyond that, no
// signature, no queue, no fsync. What it reaches with wrk is the most any receiver built this
// way can reach here; bench/peers.sh compares it with nginx's `return 200`.
//
//   swiftc -O bench/dispatch-floor/main.swift -o .build/dispatch-floor && .build/dispatch-floor PORT
import Dispatch
import Glibc

let port = UInt16(CommandLine.arguments.dropFirst().first.flatMap { UInt16($0) } ?? 0)
let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
var one: Int32 = 1
setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
var address = sockaddr_in()
address.sin_family = sa_family_t(AF_INET)
address.sin_port = port.bigEndian
address.sin_addr.s_addr = inet_addr("127.0.0.1")
let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
guard bound == 0, listen(listener, 1024) == 0 else { fatalError("bind/listen: errno \(errno)") }

let queues = (0..<max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))).map { DispatchQueue(label: "connections-\($0)") }
let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)

final class Connection {
    let fd: Int32
    var input: [UInt8] = []
    var source: DispatchSourceRead?

    init(fd: Int32, queue: DispatchQueue) {
        self.fd = fd
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        self.source = source
        source.setEventHandler { [unowned self] in self.readable() }
        source.setCancelHandler { [fd] in close(fd) }
        source.resume()
    }

    func readable() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 {
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            source?.cancel()
            source = nil
            return
        }
        input += buffer[0..<n]
        var answers = 0
        while let end = headEnd() {
            let length = contentLength(in: input[0..<end])
            guard input.count >= end + 4 + length else { break }
            input.removeFirst(end + 4 + length)
            answers += 1
        }
        guard answers > 0 else { return }
        var out: [UInt8] = []
        for _ in 0..<answers { out += answer }
        _ = send(fd, out, out.count, Int32(MSG_NOSIGNAL))
    }

    func headEnd() -> Int? {
        guard input.count >= 4 else { return nil }
        for i in 0...(input.count - 4) where input[i] == 13 && input[i + 1] == 10 && input[i + 2] == 13 && input[i + 3] == 10 { return i }
        return nil
    }

    func contentLength(in head: ArraySlice<UInt8>) -> Int {
        let name = Array("\r\ncontent-length:".utf8)
        let bytes = Array(head)
        guard bytes.count >= name.count else { return 0 }
        for i in 0...(bytes.count - name.count) {
            var match = true
            for j in 0..<name.count where (bytes[i + j] | (bytes[i + j] >= 65 && bytes[i + j] <= 90 ? 0x20 : 0)) != name[j] {
                match = false
                break
            }
            guard match else { continue }
            var value = 0
            for byte in bytes[(i + name.count)...] where byte != 32 {
                guard byte >= 48 && byte <= 57 else { break }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        return 0
    }
}

var connections: [Int32: Connection] = [:]
var next = 0
let acceptQueue = DispatchQueue(label: "accept")
let acceptor = DispatchSource.makeReadSource(fileDescriptor: listener, queue: acceptQueue)
acceptor.setEventHandler(handler: {
    while true {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        connections[fd] = Connection(fd: fd, queue: queues[next % queues.count])
        next += 1
    }
})
acceptor.resume()
dispatchMain()
