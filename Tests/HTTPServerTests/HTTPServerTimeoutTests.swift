import HTTPServer
import TestSupport
import Testing

/// Timeouts on a live connection, with every timeout at 300 ms (`HTTPLimits.shortTimeouts`).
/// Each test blocks on a read (the client gives up after 10 s) and checks the elapsed time
/// only loosely: not before the timeout, and far sooner than the client would give up.
@Suite struct HTTPServerTimeoutTests {
    private let clock = ContinuousClock()

    @Test func unfinishedHeadGets408AndIsClosed() throws {
        let live = try LiveServer(limits: .shortTimeouts)
        defer { live.stop() }
        let client = try live.connect()
        let start = clock.now
        try client.send("POST /late HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        let response = try client.readResponse()
        let elapsed = clock.now - start
        #expect(response.status == 408)
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
        #expect(elapsed >= .milliseconds(250))
        #expect(elapsed < .seconds(5))
        #expect(live.timedOutPhases == ["head"])
        #expect(live.handlerCalls == 0)
    }

    @Test func stalledBodyGets408AndIsClosed() throws {
        let live = try LiveServer(limits: .shortTimeouts)
        defer { live.stop() }
        let client = try live.connect()
        let start = clock.now
        try client.send("POST /late HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nabc")
        let response = try client.readResponse()
        let elapsed = clock.now - start
        #expect(response.status == 408)
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
        #expect(elapsed >= .milliseconds(250))
        #expect(elapsed < .seconds(5))
        #expect(live.timedOutPhases == ["body"])
        #expect(live.handlerCalls == 0)
    }

    @Test func idleKeptAliveConnectionIsClosedSilently() throws {
        let live = try LiveServer(limits: .shortTimeouts)
        defer { live.stop() }
        let client = try live.connect()
        #expect(try client.exchange(bytes("GET /once HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)
        let start = clock.now
        // isClosedByPeer is false if any byte arrives first: the close must come without an answer.
        #expect(try client.isClosedByPeer())
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(250))
        #expect(elapsed < .seconds(5))
        #expect(live.events.isEmpty)
        #expect(waitUntil { live.server.connectionCount == 0 })
    }

    @Test func connectionThatNeverSendsIsClosedSilently() throws {
        let live = try LiveServer(limits: .shortTimeouts)
        defer { live.stop() }
        let client = try live.connect()
        #expect(try client.isClosedByPeer())
        #expect(live.events.isEmpty)
        #expect(live.handlerCalls == 0)
    }

    @Test func slowlorisIsCutOffByTheAbsoluteHeadDeadline() throws {
        let live = try LiveServer(limits: .shortTimeouts)
        defer { live.stop() }
        let client = try live.connect()
        // 200+ bytes at one byte per 50 ms would take over 10 s; each byte is a fresh read on
        // the server, so only a deadline counted from the first byte can stop it.
        let head = bytes("POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: "
            + String(repeating: "d", count: 160) + "\r\nContent-Length: 0\r\n\r\n")
        let start = clock.now
        var sent = 0
        // Pace with poll: it returns early when the server answers or closes.
        while sent < head.count && !peerHasSpoken(client, withinMilliseconds: 50) {
            do { try client.send([head[sent]]) } catch { break }  // the server may already be gone
            sent += 1
        }
        let response = try client.readResponse()
        let elapsed = clock.now - start
        #expect(response.status == 408)
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
        #expect(sent < head.count / 2)
        #expect(elapsed < .seconds(5))
        #expect(live.timedOutPhases == ["head"])
        #expect(live.handlerCalls == 0)
    }

    @Test func clientThatStopsReadingIsClosedAfterTheWriteTimeout() throws {
        let live = try LiveServer(limits: .shortTimeouts)
        defer { live.stop() }
        let client = try live.connect()
        try client.send("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        // The answer has started, so the connection is open and writing; from here on the
        // client never reads, and the server must give up on the write.
        #expect(peerHasSpoken(client, withinMilliseconds: 10_000))
        #expect(waitUntil { live.server.connectionCount == 0 })
        #expect(live.timedOutPhases == ["write"])
    }

    @Test func slowHandlerIsNotTimedOut() throws {
        let live = try LiveServer(limits: .shortTimeouts)
        defer { live.stop() }
        let client = try live.connect()
        try client.send(RawHTTPClient.post("/hold", body: bytes("patience")))
        #expect(waitUntil { live.heldCount == 1 })
        // Longer than every timeout: the handler phase has none, so nothing arrives.
        #expect(!peerHasSpoken(client, withinMilliseconds: 700))
        live.answerHeld()
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.body == bytes("patience"))
        #expect(live.events.isEmpty)
    }
}
