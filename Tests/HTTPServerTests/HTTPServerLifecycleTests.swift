import Dispatch
import HTTPServer
import TestSupport
import Testing

/// Clients that vanish mid-request, and graceful shutdown.
@Suite struct HTTPServerLifecycleTests {
    @Test func clientGoneWhileItsRequestIsHandled() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let leaver = try live.connect()
        try leaver.send(RawHTTPClient.post("/hold", body: bytes("never read")))
        #expect(waitUntil { live.heldCount == 1 })
        leaver.close()

        // Others are served while that handler is still busy…
        let other = try live.connect()
        #expect(try other.exchange(bytes("GET /during HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)
        // …and after its answer went to a closed socket.
        live.answerHeld()
        let later = try live.connect()
        #expect(try later.exchange(bytes("GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).body == bytes("/after"))
        #expect(try other.exchange(bytes("GET /again HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)

        other.close()
        later.close()
        #expect(waitUntil { live.server.connectionCount == 0 })
    }

    @Test func shutdownDeliversTheAnswerInProgressThenReturns() throws {
        // One group: the drain reaches both connections in one pass on one queue, so once the
        // idle one is closed, the busy one is known to be draining.
        let live = try LiveServer(groups: 1)
        defer { live.stop() }
        let busy = try live.connect()
        try busy.send(RawHTTPClient.post("/hold", body: bytes("in flight")))
        #expect(waitUntil { live.heldCount == 1 })
        let idle = try live.connect()
        #expect(try idle.exchange(bytes("GET /idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)

        let returned = DispatchSemaphore(value: 0)
        let server = live.server
        DispatchQueue(label: "test.shutdown").async {
            server.shutdown(grace: .seconds(10))
            returned.signal()
        }
        #expect(try idle.isClosedByPeer())
        #expect(returned.wait(timeout: .now()) == .timedOut, "shutdown returned with a request in its handler")

        live.answerHeld()
        let response = try busy.readResponse()
        #expect(response.status == 200)
        #expect(response.body == bytes("in flight"))
        #expect(response.header("Connection") == "close")
        #expect(try busy.isClosedByPeer())
        #expect(returned.wait(timeout: .now() + 10) == .success)
        #expect(server.connectionCount == 0)
        withProcessSpawnLock { #expect(connectionIsRefused(live.address)) }
    }

    @Test func shutdownClosesWhatOutlivesTheGrace() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let stuck = try live.connect()
        try stuck.send(RawHTTPClient.post("/hold", body: bytes("too slow")))
        #expect(waitUntil { live.heldCount == 1 })
        let clock = ContinuousClock()
        let start = clock.now
        live.server.shutdown(grace: .milliseconds(300))
        let elapsed = clock.now - start
        #expect(elapsed >= .milliseconds(250))
        #expect(elapsed < .seconds(5))
        #expect(live.server.connectionCount == 0)
        #expect(try stuck.isClosedByPeer())
        // A late answer for a closed connection is dropped.
        live.answerHeld()
    }

    @Test func listenerIsClosedWhenShutdownReturns() throws {
        // With no connection left, shutdown has nothing to wait for: it must still not return
        // before the listening socket is closed. Repeated because a miss is a narrow race.
        for _ in 0..<50 {
            let live = try LiveServer()
            let client = try live.connect()
            let request = bytes("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(try client.exchange(request).status == 200)
            client.close()
            #expect(waitUntil { live.server.connectionCount == 0 })
            withProcessSpawnLock {
                live.stop()
                #expect(connectionIsRefused(live.address))
            }
        }
    }
}
