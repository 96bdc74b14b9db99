import HTTPServer
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real server on a loopback socket: what only a live connection shows (reuse, closing,
/// pipelining, interim responses, connection limits). The parser's rules have their own tests.
@Suite struct HTTPServerLiveTests {
    // MARK: Keep-alive and closing

    @Test func severalRequestsShareOneConnection() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        for body in ["first", "second", "third"] {
            let response = try client.exchange(RawHTTPClient.post("/echo", body: Array(body.utf8)))
            #expect(response.status == 200)
            #expect(response.body == Array(body.utf8))
            #expect(response.header("Connection") == nil)
            #expect(response.header("Content-Length") == "\(body.utf8.count)")
        }
        #expect(live.handlerCalls == 3)
        #expect(live.server.connectionCount == 1)
    }

    @Test func connectionCloseIsAnsweredWithCloseThenClosed() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        let response = try client.exchange(bytes("GET /bye HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        #expect(response.status == 200)
        #expect(response.body == bytes("/bye"))
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
    }

    @Test func http10WithoutKeepAliveCloses() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        let response = try client.exchange(bytes("GET /old HTTP/1.0\r\n\r\n"))
        #expect(response.status == 200)
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
    }

    @Test func http10WithKeepAliveStaysOpen() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        let request = bytes("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let first = try client.exchange(request)
        #expect(first.header("Connection") == "keep-alive")  // RFC 9112 §9.3: a 1.0 client closes otherwise
        let second = try client.exchange(request)
        #expect(second.status == 200)
        #expect(live.handlerCalls == 2)
    }

    @Test func halfClosedClientStillGetsItsAnswer() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        try client.send(RawHTTPClient.post("/last", body: bytes("bye")))
        client.shutdownWrite()
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.body == bytes("bye"))
        #expect(try client.isClosedByPeer())
    }

    // MARK: Pipelining

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        // One write. The first is answered 100 ms late from another queue, the others at once.
        try client.send(RawHTTPClient.post("/slow", body: bytes("one"))
            + RawHTTPClient.post("/fast", body: bytes("two"))
            + RawHTTPClient.post("/fast", body: bytes("three"), close: true))
        let responses = try (0..<3).map { _ in try client.readResponse() }
        #expect(responses.map(\.status) == [200, 200, 200])
        #expect(responses.map { $0.header("X-Target") } == ["/slow", "/fast", "/fast"])
        #expect(responses.map { String(decoding: $0.body, as: UTF8.self) } == ["one", "two", "three"])
        #expect(responses.map { $0.header("Connection") } == [nil, nil, "close"])
        #expect(try client.isClosedByPeer())
        #expect(live.requests.map { String(decoding: $0.body, as: UTF8.self) } == ["one", "two", "three"])
    }

    // MARK: Expect: 100-continue

    @Test func expectContinueGetsInterimResponseBeforeTheBody() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        try client.send("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let interim = try client.readResponse()
        #expect(interim.status == 100)
        #expect(live.handlerCalls == 0)
        try client.send("hello")
        let final = try client.readResponse()
        #expect(final.status == 200)
        #expect(final.body == bytes("hello"))
        #expect(live.handlerCalls == 1)
    }

    // MARK: Bodies

    @Test func chunkedBodyReachesTheHandlerDechunked() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        try client.send("POST /chunks HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        try client.send("5;note=first\r\nhello\r\n")
        try client.send("7\r\n, world\r\n")
        let response = try client.exchange(bytes("0\r\nX-Checksum: none\r\n\r\n"))
        #expect(response.status == 200)
        #expect(response.body == bytes("hello, world"))
        let request = try #require(live.requests.first)
        #expect(request.head.framing == .chunked)
        #expect(request.body == bytes("hello, world"))
        // The connection stays usable after a chunked body.
        #expect(try client.exchange(bytes("GET /next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).body == bytes("/next"))
    }

    @Test func headAnswerHasContentLengthButNoBody() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        // A HEAD and a GET in one write: if any body byte followed the HEAD answer's head, the
        // GET's status line would not start right after the HEAD answer's empty line.
        try client.send("HEAD /resource HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            + "GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let text = String(decoding: try readUntilClosed(client), as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        try #require(parts.count == 3)
        #expect(parts[0].hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(parts[0].contains("\r\nContent-Length: 9"))  // "/resource"
        #expect(parts[1].hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(parts[1].contains("\r\nX-Target: /after"))
        #expect(parts[2] == "/after")
        #expect(live.requests.map(\.head.method) == ["HEAD", "GET"])
    }

    @Test func largeAnswerIsWrittenAsTheClientReads() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        let response = try client.exchange(bytes("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        #expect(response.status == 200)
        #expect(response.body.count == LiveServer.bigBody.count)
        let intact = response.body == LiveServer.bigBody  // a Bool, so a failure does not print 16 MiB
        #expect(intact)
        // Reading resumes after a write that had to wait.
        #expect(try client.exchange(bytes("GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).body == bytes("/after"))
    }

    @Test func nothingIsHandledAfterAClosingAnswer() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        try client.send("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        // Once the answer starts arriving the server is writing it, and must wait for us to read.
        #expect(peerHasSpoken(client, withinMilliseconds: 10_000))
        try client.send("GET /too-late HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.header("Connection") == "close")
        #expect(response.body.count == LiveServer.bigBody.count)
        #expect(try client.isClosedByPeer())
        #expect(live.requests.map(\.head.target) == ["/big"])
    }

    // MARK: Connection limit

    @Test func connectionsBeyondTheLimitAreClosedAtOnce() throws {
        var limits = HTTPLimits()
        limits.maxConnections = 2
        let live = try LiveServer(limits: limits)
        defer { live.stop() }
        let first = try live.connect()
        let second = try live.connect()
        // An answer on each proves both were admitted.
        #expect(try first.exchange(bytes("GET /1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)
        #expect(try second.exchange(bytes("GET /2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)

        let third = try live.connect()
        #expect(try third.isClosedByPeer())
        #expect(live.events.contains { if case .connectionLimitReached = $0 { true } else { false } })
        #expect(live.server.connectionCount == 2)

        first.close()
        #expect(waitUntil { live.server.connectionCount == 1 })
        let fourth = try live.connect()
        #expect(try fourth.exchange(bytes("GET /4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).body == bytes("/4"))
        #expect(try second.exchange(bytes("GET /2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)
    }

    // MARK: IPv6

    @Test(.enabled(if: ipv6LoopbackAvailable, "::1 cannot be bound on this host (no IPv6 loopback)"))
    func servesOverIPv6Loopback() throws {
        let live = try LiveServer(host: "::1")
        defer { live.stop() }
        #expect(live.address.host == "::1")
        #expect(live.address.port != 0)
        let client = try live.connect()
        let response = try client.exchange(RawHTTPClient.post("/v6", body: bytes("over v6")))
        #expect(response.status == 200)
        #expect(response.body == bytes("over v6"))
        #expect(response.header("X-Peer") == "::1")
    }
}

/// Whether a socket can be bound to `::1` here (containers often have no IPv6 loopback).
let ipv6LoopbackAvailable: Bool = {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    guard inet_pton(AF_INET6, "::1", &address.sin6_addr) == 1 else { return false }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
        }
    }
}()
