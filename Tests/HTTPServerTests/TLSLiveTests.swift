import COpenSSL
import Dispatch
import HTTPServer
import OpenSSLSupport
import TestSupport
import Testing

/// Native TLS on a live server: protocol versions, ciphers, the certificate chain, framing over
/// TLS (pipelining, large bodies both ways, close_notify), handshake failures and timeouts,
/// and certificate reloads that keep open connections.
@Suite struct TLSLiveTests {
    /// Runs `body` against a TLS server with a fresh PKI named `name` (in a temporary
    /// directory it also gets); the server is stopped and the directory removed afterwards.
    private func withServer(name: String = "first", key: TestCertificates.Key = .rsa, limits: HTTPLimits = .init(),
                            _ body: (LiveServer, TestCertificates, TLSContext, TemporaryDirectory) throws -> Void) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let pki = try TestCertificates.make(in: directory.path, name: name, key: key)
        let context = try TLSContext(certificateChainFile: pki.chainFile, privateKeyFile: pki.keyFile)
        let live = try LiveServer(limits: limits, tls: context)
        defer { live.stop() }  // safe after a test's own shutdown
        try body(live, pki, context, directory)
    }

    private func get(_ path: String, close: Bool = false) -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\(close ? "Connection: close\r\n" : "")\r\n".utf8)
    }

    @Test func verifiedTLS13WithTheWholeChainAndHTTP11() throws {
        try withServer { live, pki, context, _ in
            let client = try live.connect()
            // The client trusts only the root: this verifies only because the intermediate was sent.
            let info = try client.startTLS(.init(caFile: pki.caFile))
            #expect(info.version == "TLSv1.3")
            #expect(info.alpn == "http/1.1")
            #expect(info.peerSubject == pki.subject)
            #expect(context.certificate.subject == pki.subject)
            #expect(context.certificate.notAfter > 0)
            // Keep-alive: two requests on one TLS connection.
            let first = try client.exchange(get("/one"))
            #expect(first.status == 200 && first.body == Array("/one".utf8))
            let second = try client.exchange(get("/two"))
            #expect(second.status == 200 && second.body == Array("/two".utf8))
            #expect(live.handlerCalls == 2)
        }
    }

    @Test func tls12UsesForwardSecretAEADSuites() throws {
        try withServer { live, pki, _, _ in
            var options = RawHTTPClient.TLSOptions(caFile: pki.caFile)
            options.maxVersion = TLS1_2_VERSION
            let client = try live.connect()
            let info = try client.startTLS(options)
            #expect(info.version == "TLSv1.2")
            #expect(info.cipher.hasPrefix("ECDHE-RSA-"))
            #expect(info.cipher.contains("GCM") || info.cipher.contains("CHACHA20"))
            #expect(try client.exchange(get("/tls12")).status == 200)
        }
    }

    @Test func ecdsaCertificateWorksWithTLS12AndTLS13() throws {
        try withServer(key: .ecdsa) { live, pki, _, _ in
            var tls12 = RawHTTPClient.TLSOptions(caFile: pki.caFile)
            tls12.maxVersion = TLS1_2_VERSION
            let old = try live.connect()
            let info = try old.startTLS(tls12)
            #expect(info.version == "TLSv1.2" && info.cipher.hasPrefix("ECDHE-ECDSA-"), "\(info.cipher)")
            #expect(try old.exchange(get("/ecdsa12")).status == 200)
            let new = try live.connect()
            #expect(try new.startTLS(.init(caFile: pki.caFile)).version == "TLSv1.3")
            #expect(try new.exchange(get("/ecdsa13")).status == 200)
        }
    }

    /// Without a server-side session cache, clients still resume with tickets (TLS 1.3 and 1.2);
    /// after a certificate reload the old tickets no longer work and a full handshake follows.
    @Test(arguments: [0, TLS1_2_VERSION])
    func sessionsResumeWithTicketsUntilAReload(maxVersion: Int32) throws {
        try withServer { live, pki, context, _ in
            var options = RawHTTPClient.TLSOptions(caFile: pki.caFile)
            options.maxVersion = maxVersion
            let first = try live.connect()
            #expect(try first.startTLS(options).resumed == false)
            #expect(try first.exchange(get("/first")).status == 200)
            let session = try #require(first.tlsSession())
            defer { SSL_SESSION_free(session) }
            options.resume = session
            let second = try live.connect()
            #expect(try second.startTLS(options).resumed)
            #expect(try second.exchange(get("/resumed")).status == 200)
            try context.reload()
            let third = try live.connect()
            #expect(try third.startTLS(options).resumed == false)
            #expect(try third.exchange(get("/after-reload")).status == 200)
        }
    }

    @Test(arguments: [TLS1_VERSION, TLS1_1_VERSION])
    func oldProtocolVersionsAreRefused(version: Int32) throws {
        try withServer { live, pki, _, _ in
            var options = RawHTTPClient.TLSOptions(caFile: pki.caFile)
            options.maxVersion = version
            let client = try live.connect()
            let error = try #require(throws: RawHTTPClient.ClientError.self) { try client.startTLS(options) }
            #expect(error.description.contains("protocol version"))
            #expect(waitUntil { live.tlsFailures.contains { $0.contains("unsupported protocol") } })
            #expect(live.handlerCalls == 0)
        }
    }

    @Test(arguments: ["AES128-GCM-SHA256:AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA",
                      "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384", "AES128-SHA256"])
    func suitesWithoutForwardSecrecyOrAEADAreRefused(ciphers: String) throws {
        try withServer { live, pki, _, _ in
            var options = RawHTTPClient.TLSOptions(caFile: pki.caFile)
            options.maxVersion = TLS1_2_VERSION
            options.ciphers = ciphers
            let client = try live.connect()
            #expect(throws: RawHTTPClient.ClientError.self) { try client.startTLS(options) }
            #expect(waitUntil { live.tlsFailures.contains { $0.contains("no shared cipher") } })
        }
    }

    @Test func plainHTTPOnTheTLSPortIsClosedWithoutAnAnswer() throws {
        try withServer { live, _, _, _ in
            let client = try live.connect()
            try client.send(get("/plain"))
            #expect(try client.isClosedByPeer())
            #expect(waitUntil { live.tlsFailures.contains { $0.contains("http request") } })
            #expect(live.handlerCalls == 0)
        }
    }

    @Test func pipelinedRequestsAndLargeBodiesBothWays() throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 1 << 20
        try withServer(limits: limits) { live, pki, _, _ in
            let client = try live.connect()
            try client.startTLS(.init(caFile: pki.caFile))
            // Three requests in one write come back in order.
            try client.send(get("/a") + get("/b") + get("/c"))
            #expect(try (0..<3).map { _ in String(decoding: try client.readResponse().body, as: UTF8.self) } == ["/a", "/b", "/c"])
            // A 1 MiB body spans many TLS records; the echo comes back whole.
            let body = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let echoed = try client.exchange(RawHTTPClient.post("/echo", body: body))
            #expect(echoed.status == 200 && echoed.body == body)
            // 16 MiB out: more than the socket buffers, so the server waits for writability mid-answer.
            let big = try client.exchange(get("/big"))
            #expect(big.body.count == LiveServer.bigBody.count && big.body == LiveServer.bigBody)
            #expect(try client.exchange(get("/after")).status == 200)
        }
    }

    @Test func expectContinueOverTLS() throws {
        try withServer { live, pki, _, _ in
            let client = try live.connect()
            try client.startTLS(.init(caFile: pki.caFile))
            try client.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            #expect(try client.readResponse().status == 100)
            #expect(live.handlerCalls == 0)
            try client.send("hello")
            let final = try client.readResponse()
            #expect(final.status == 200 && final.body == Array("hello".utf8))
        }
    }

    @Test func closingAnswerEndsWithCloseNotify() throws {
        try withServer { live, pki, _, _ in
            let client = try live.connect()
            try client.startTLS(.init(caFile: pki.caFile))
            let response = try client.exchange(get("/last", close: true))
            #expect(response.status == 200 && response.header("Connection") == "close")
            #expect(try client.isClosedByPeer())
            #expect(client.sawCloseNotify)
        }
    }

    @Test func stalledHandshakeIsClosedAtTheHeadTimeout() throws {
        try withServer(limits: .shortTimeouts) { live, _, _, _ in
            let client = try live.connect()
            try client.send([0x16, 0x03, 0x01])  // the first bytes of a ClientHello, then nothing
            #expect(try client.isClosedByPeer())
            #expect(live.timedOutPhases == ["tls handshake"])
        }
    }

    @Test func reloadServesTheNewCertificateAndKeepsOpenConnections() throws {
        try withServer(name: "first") { live, first, context, directory in
            let second = try TestCertificates.make(in: directory.path, name: "second")
            let open = try live.connect()
            try open.startTLS(.init(caFile: first.caFile))
            #expect(try open.exchange(get("/before")).status == 200)

            try second.install(over: first)  // a renewal writes new files in place
            try context.reload()
            #expect(context.certificate.subject == second.subject)

            // The connection made before the reload goes on with its session.
            #expect(try open.exchange(get("/during")).status == 200)
            // New connections get the new certificate: verified by the new root, refused by the old.
            let fresh = try live.connect()
            #expect(try fresh.startTLS(.init(caFile: second.caFile)).peerSubject == second.subject)
            #expect(try fresh.exchange(get("/after")).status == 200)
            let stale = try live.connect()
            let error = try #require(throws: RawHTTPClient.ClientError.self) { try stale.startTLS(.init(caFile: first.caFile)) }
            #expect(error.description.contains("certificate verify failed"))
            #expect(try open.exchange(get("/still")).status == 200)
        }
    }

    @Test func failedReloadKeepsTheRunningCertificate() throws {
        try withServer { live, first, context, directory in
            let other = try TestCertificates.make(in: directory.path, name: "other")

            try writeFile(first.chainFile, "not a certificate\n")
            let chainError = try #require(throws: TLSError.self) { try context.reload() }
            #expect(chainError.part == .certificateChain)
            #expect(chainError.reason.contains(first.chainFile))

            // A key that does not belong to the certificate.
            let mismatch = try #require(throws: TLSError.self) {
                try context.reload(certificateChainFile: other.chainFile, privateKeyFile: first.keyFile)
            }
            #expect(mismatch.part == .privateKey)
            #expect(mismatch.reason.contains("does not match"))

            let missing = try #require(throws: TLSError.self) {
                try context.reload(certificateChainFile: other.chainFile, privateKeyFile: directory.file("absent.pem"))
            }
            #expect(missing.part == .privateKey)

            // Still the first certificate, from the files as they were at the last good load.
            #expect(context.certificateChainFile == first.chainFile)
            let client = try live.connect()
            #expect(try client.startTLS(.init(caFile: first.caFile)).peerSubject == first.subject)
            #expect(try client.exchange(get("/ok")).status == 200)
        }
    }

    // MARK: Draining, idle closes and peers that do not read

    /// Stops the server from another thread and returns once every connection has been told to
    /// drain (the `.draining` event), while `shutdown` goes on waiting for them.
    private func startShutdown(_ live: LiveServer) -> DispatchSemaphore {
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue(label: "tls-test.shutdown").async {
            live.server.shutdown(grace: .seconds(5))
            stopped.signal()
        }
        _ = waitUntil { live.events.contains { if case .draining = $0 { true } else { false } } }
        return stopped
    }

    @Test func drainLetsAClientMidHandshakeSendItsFirstRequest() throws {
        try withServer { live, pki, _, _ in
            let client = try live.connect()
            // The server has sent its Finished; ours is held back until the drain has begun.
            try client.startTLS(.init(caFile: pki.caFile), holdingFinalFlight: true)
            let stopped = startShutdown(live)
            try client.releaseHeldHandshake()
            let response = try client.exchange(get("/during-drain"))
            #expect(response.status == 200 && response.header("Connection") == "close")
            #expect(try client.isClosedByPeer())
            #expect(client.sawCloseNotify)
            stopped.wait()
        }
    }

    @Test func drainWaitsForARequestStillInsideATLSRecord() throws {
        try withServer { live, pki, _, _ in
            let client = try live.connect()
            try client.startTLS(.init(caFile: pki.caFile))
            #expect(try client.exchange(get("/first")).status == 200)
            // Half of the next request's record is on its way when the drain begins.
            let record = try client.sealed(get("/second"))
            try client.sendRaw(Array(record.prefix(record.count / 2)))
            let stopped = startShutdown(live)
            try client.sendRaw(Array(record.dropFirst(record.count / 2)))
            let response = try client.readResponse()
            #expect(response.status == 200 && response.body == Array("/second".utf8))
            #expect(try client.isClosedByPeer())
            stopped.wait()
        }
    }

    @Test func idleKeptAliveTLSConnectionIsClosedWithCloseNotify() throws {
        try withServer(limits: .shortTimeouts) { live, pki, _, _ in
            let client = try live.connect()
            try client.startTLS(.init(caFile: pki.caFile))
            #expect(try client.exchange(get("/once")).status == 200)
            #expect(try client.isClosedByPeer())
            #expect(client.sawCloseNotify)
        }
    }

    /// A record without a request in it, split over two reads, is not the start of a request:
    /// the idle connection is closed quietly at its keep-alive deadline, not answered 408.
    @Test func splitKeyUpdateOnAnIdleConnectionIsNotARequestHead() throws {
        try withServer(limits: .shortTimeouts) { live, pki, _, _ in
            let client = try live.connect()
            try client.startTLS(.init(caFile: pki.caFile))
            #expect(try client.exchange(get("/once")).status == 200)
            let record = try client.keyUpdateRecord()
            try client.sendRaw(Array(record.prefix(3)))
            #expect(waitUntil { live.server.isResponsive(within: .seconds(5)) })
            try client.sendRaw(Array(record.dropFirst(3)))
            #expect(try client.isClosedByPeer(), "an answer came instead of a quiet close")
            #expect(client.sawCloseNotify)
            #expect(live.timedOutPhases.isEmpty)
        }
    }

    /// A peer that keeps sending KeyUpdates (each makes the server write one back) and never
    /// reads: the server stops reading once a little output is stuck and closes the connection
    /// at its deadline, instead of buffering without bound and moving the deadline each time.
    @Test func peerThatNeverReadsCannotHoldAConnectionWithKeyUpdates() throws {
        try withServer(limits: .shortTimeouts) { live, pki, _, _ in
            let client = try live.connect(timeout: 5)
            try client.startTLS(.init(caFile: pki.caFile))
            #expect(try client.exchange(get("/once")).status == 200)
            let clock = ContinuousClock()
            let start = clock.now
            var sent = 0
            var failure: String?
            // Sends fail once the server has closed (EPIPE/ECONNRESET) or, if it stopped reading
            // and never closed, when the 5 s send timeout passes.
            while clock.now - start < .seconds(20) {
                do {
                    try client.sendKeyUpdate()
                    sent += 1
                } catch {
                    failure = "\(error)"
                    break
                }
            }
            let elapsed = clock.now - start
            #expect(failure != nil, "the connection stayed open for 20 s and \(sent) KeyUpdates")
            #expect(failure?.contains("errno 11") != true, "the server stopped reading but never closed: \(failure ?? "")")
            #expect(elapsed < .seconds(5), "\(sent) KeyUpdates, then: \(failure ?? "")")
            #expect(waitUntil { live.server.connectionCount == 0 })
        }
    }
}
