import Dispatch
import HTTPServer
import OpenSSLSupport
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What clients can make the server hold. Each of these once grew without bound or held a slot
/// far too long: a client pipelining requests while reading the answers (hundreds of MiB from
/// one socket), many connections with bodies nearly complete, a connection that never speaks.
@Suite struct InputBoundTests {
    /// 64 MiB of pipelined requests on one connection, answers read as they come. The server may
    /// read ahead only a connection's allowance; the rest waits in the two sockets' buffers
    /// (a few MiB on loopback), so the sender blocks. Before the bound the server read on after
    /// every answer and the sender never blocked: everything sent was in the server's memory.
    @Test func pipelinedRequestsWaitInTheSocketNotInTheServer() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect(timeout: 60)
        let request = bytes("GET /p HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: \(String(repeating: "a", count: 1_990))\r\n\r\n")
        let perSend = 64
        let sends = (64 << 20) / (request.count * perSend)
        let total = sends * perSend

        let answered = Atomic<Int>(0)
        let readerDone = DispatchSemaphore(value: 0)
        let fd = client.fd
        DispatchQueue.global().async {
            defer { readerDone.signal() }
            let marker = bytes("HTTP/1.1 200 ")
            var carry: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while answered.load(ordering: .relaxed) < total {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return }
                let window = carry + chunk[0..<n]
                var count = 0
                var i = 0
                while i + marker.count <= window.count {
                    if window[i] == marker[0] && window[i..<(i + marker.count)].elementsEqual(marker) {
                        count += 1
                        i += marker.count
                    } else {
                        i += 1
                    }
                }
                answered.add(count, ordering: .relaxed)
                carry = Array(window.suffix(marker.count - 1))
            }
        }

        let batch = Array([[UInt8]](repeating: request, count: perSend).joined())
        var mostInFlight = 0
        for sent in 1...sends {
            try client.sendRaw(batch)
            mostInFlight = max(mostInFlight, (sent * perSend - answered.load(ordering: .relaxed)) * request.count)
        }
        readerDone.wait()
        #expect(answered.load(ordering: .relaxed) == total)
        // Loopback socket buffers hold about 10 MiB at most between them.
        #expect(mostInFlight < 24 << 20, "\(mostInFlight >> 20) MiB sent and not yet answered")
        #expect(live.server.requestMemoryInUse == 0)
    }

    /// With a 1 MiB budget: one connection holds most of it with a body nearly complete; a second
    /// large body cannot get what it needs and gets 503 with Retry-After at once (it used to wait
    /// and hold its bytes); a small request on a third connection is answered meanwhile (it fits in
    /// its own allowance); the first body completes, and the budget is whole again afterwards.
    @Test func requestBodiesBeyondTheMemoryBudgetGet503() throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 4 << 20
        limits.requestMemoryBytes = 1 << 20
        limits.connectionInputAllowance = 16 << 10
        let live = try LiveServer(limits: limits)
        defer { live.stop() }

        let first = try live.connect()
        try first.send("POST /first HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900000\r\n\r\n")
        try first.sendRaw([UInt8](repeating: 0x61, count: 800_000))
        #expect(waitUntil { live.server.requestMemoryInUse >= 800_000 - limits.connectionInputAllowance })

        let second = try live.connect()
        try second.send("POST /second HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900000\r\n\r\n")
        try? second.sendRaw([UInt8](repeating: 0x62, count: 400_000))  // the server may close first
        let refused = try second.readResponse()
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")
        #expect(refused.header("Connection") == "close")
        #expect(live.rejectedStatuses == [503])
        // The refused body's budget came back before its 503 went out (it once came back only
        // when the connection closed, after the answer: a first body completing right then got
        // a 503 of its own).
        #expect(live.server.requestMemoryInUse == 800_000 - limits.connectionInputAllowance)

        let small = try live.connect()
        #expect(try small.exchange(RawHTTPClient.post("/small", body: bytes("hello"))).status == 200)

        try first.sendRaw([UInt8](repeating: 0x61, count: 100_000))
        let answer = try first.readResponse()
        #expect(answer.status == 200)
        #expect(answer.body.count == 900_000)
        #expect(live.requests.map(\.head.target) == ["/small", "/first"])
        first.close()
        second.close()
        #expect(waitUntil { live.server.requestMemoryInUse == 0 })
    }

    /// A connection that never sends a byte is closed after the head timeout, not held for the
    /// keep-alive timeout (30 s by default) as it was.
    @Test func silentNewConnectionGetsTheHeadTimeout() throws {
        var limits = HTTPLimits()
        limits.headTimeout = .milliseconds(300)
        limits.keepAliveTimeout = .seconds(120)
        let live = try LiveServer(limits: limits)
        defer { live.stop() }
        let silent = try live.connect()
        #expect(waitUntil(seconds: 20) { silent.closedByPeerNow })
        #expect(live.server.connectionCount == 0 || waitUntil { live.server.connectionCount == 0 })
        // A connection that has been answered waits the keep-alive timeout for its next request.
        let used = try live.connect()
        #expect(try used.exchange(bytes("GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)
        let silentAgain = try live.connect()
        #expect(waitUntil(seconds: 20) { silentAgain.closedByPeerNow })
        #expect(!used.closedByPeerNow)
    }

    /// Every way a body can end short gives its budget back: the peer resets, the body stalls
    /// (408), a chunked body grows past maxBodyBytes (413), a head is malformed after a body was
    /// half read on another connection, and the server shuts down with a body in progress.
    @Test func theBudgetComesBackHoweverABodyEnds() throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 900_000
        limits.requestMemoryBytes = 4 << 20
        limits.bodyIdleTimeout = .milliseconds(300)
        let live = try LiveServer(limits: limits)
        defer { live.stop() }
        let half = [UInt8](repeating: 0x61, count: 500_000)
        let announced = bytes("POST /b HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900000\r\n\r\n")
        let held = { live.server.requestMemoryInUse }

        let reset = try live.connect()
        try reset.sendRaw(announced + half)
        #expect(waitUntil { held() > 400_000 })
        resetConnection(reset)
        #expect(waitUntil { held() == 0 }, "after a reset: \(held())")

        let stalled = try live.connect()
        try stalled.sendRaw(announced + half)
        #expect(try stalled.readResponse().status == 408)
        #expect(waitUntil { held() == 0 }, "after a 408: \(held())")

        let chunked = try live.connect()
        var body = bytes("POST /c HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in 0..<10 { body += bytes("186a0\r\n") + [UInt8](repeating: 0x63, count: 100_000) + bytes("\r\n") }
        try? chunked.sendRaw(body)
        #expect(try chunked.readResponse().status == 413)
        #expect(waitUntil { held() == 0 }, "after a 413: \(held())")

        let inProgress = try live.connect()
        try inProgress.sendRaw(announced + half)
        #expect(waitUntil { held() > 400_000 })
        live.server.shutdown(grace: .zero)
        #expect(waitUntil { held() == 0 }, "after shutdown: \(held())")
    }

    /// Over TLS a read can complete a buffered record and hand over up to 16 KiB at once, past
    /// the connection's allowance, while an answer is still owed. With the server's budget spent,
    /// those bytes (a pipelined request) used to be refused with a 503 that took the place of the
    /// owed answer; now they wait, the owed answer goes out, and the pipelined request is served.
    @Test func aTLSRecordCompletedWhileAnAnswerIsOwedDoesNotReplaceThatAnswer() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pki = try TestCertificates.make(in: dir.path, name: "owed", key: .ecdsa)
        var limits = HTTPLimits()
        limits.connectionInputAllowance = 4096
        limits.requestMemoryBytes = 1024
        let live = try LiveServer(limits: limits, tls: TLSContext(certificateChainFile: pki.chainFile, privateKeyFile: pki.keyFile))
        defer { live.stop() }
        let client = try live.connect()
        try client.startTLS(RawHTTPClient.TLSOptions(caFile: pki.caFile))
        try client.send("GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(waitUntil { live.heldCount == 1 })
        // One record: read in 4 KiB pieces (the allowance), decrypted only once it is whole.
        let body = [UInt8](repeating: 0x62, count: 15_000)
        try client.sendRaw(try client.sealed(RawHTTPClient.post("/pipelined", body: body)))
        #expect(waitUntil { live.server.requestMemoryInUse == 1024 }, "the whole budget taken, the rest of the record kept")
        #expect(live.rejectedStatuses.isEmpty)
        live.answerHeld()
        let owed = try client.readResponse()
        #expect(owed.status == 200)
        #expect(owed.header("X-Target") == "/hold")
        let pipelined = try client.readResponse()
        #expect(pipelined.status == 200)
        #expect(pipelined.body == body)
        #expect(live.rejectedStatuses.isEmpty)
        client.close()
        #expect(waitUntil { live.server.requestMemoryInUse == 0 })
    }
}
