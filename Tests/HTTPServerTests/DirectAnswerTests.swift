import Dispatch
import OpenSSLSupport
@testable import HTTPServer
import Synchronization
import TestSupport
import Testing

/// `HTTPResponder.sendNow`: an answer completed on another thread (the queue writer's
/// completion) is written there when the connection waits for just it, and otherwise goes
/// through the connection's queue; either way the client sees the same bytes in the same order.
@Suite struct DirectAnswerTests {
    static func get(_ target: String, close: Bool = false) -> [UInt8] {
        Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(close ? "Connection: close\r\n" : "")\r\n".utf8)
    }

    @Test func keepAliveAnswersAreWrittenByTheCompletingThread() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        // Whether one answer is direct depends on which thread gets there first: on a loaded
        // machine many may not be. At least 50, and on until one is (bounded).
        var number = 0
        while number < 50 || (live.server.directAnswerCount == 0 && number < 5000) {
            let answer = try client.exchange(Self.get("/now?n=\(number)"))
            #expect(answer.status == 200)
            #expect(answer.header("X-Target") == "/now?n=\(number)")
            #expect(answer.header("Connection") == nil)
            number += 1
        }
        #expect(live.server.directAnswerCount > 0, "every answer went through the queue")
        #expect(try client.exchange(Self.get("/after")).status == 200, "the connection reads on after direct answers")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        try client.send(Self.get("/now?1") + Self.get("/now?2") + Self.get("/plain?3") + Self.get("/now?4"))
        for target in ["/now?1", "/now?2", "/plain?3", "/now?4"] {
            let answer = try client.readResponse()
            #expect(answer.status == 200)
            #expect(answer.header("X-Target") == target)
        }
    }

    @Test func anAnswerThatClosesGoesThroughTheQueueAndCloses() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect()
        let answer = try client.exchange(Self.get("/now", close: true))
        #expect(answer.status == 200)
        #expect(answer.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
    }

    @Test func anAnswerLargerThanTheSocketTakesIsFinishedOnTheQueue() throws {
        let live = try LiveServer()
        defer { live.stop() }
        let client = try live.connect(timeout: 60)
        for _ in 0..<2 {
            let answer = try client.exchange(Self.get("/now-big"))
            #expect(answer.status == 200)
            #expect(answer.body == LiveServer.bigBody)
        }
        #expect(try client.exchange(Self.get("/after")).header("X-Target") == "/after")
    }

    @Test func directAnswersOverTLS() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pki = try TestCertificates.make(in: dir.path, name: "direct", key: .ecdsa)
        let live = try LiveServer(tls: TLSContext(certificateChainFile: pki.chainFile, privateKeyFile: pki.keyFile))
        defer { live.stop() }
        let client = try live.connect()
        try client.startTLS(RawHTTPClient.TLSOptions(caFile: pki.caFile))
        var number = 0
        while number < 20 || (live.server.directAnswerCount == 0 && number < 2000) {  // as above
            #expect(try client.exchange(Self.get("/now?\(number)")).header("X-Target") == "/now?\(number)")
            number += 1
        }
        let big = try client.exchange(Self.get("/now-big"))
        #expect(big.body == LiveServer.bigBody)
        #expect(live.server.directAnswerCount > 0)
    }
}

/// Direct answers racing everything else a connection can do at the same moment: the client
/// resetting, pipelining, asking to close, answers from other threads. Each worker thread drives
/// its own connections; whatever happens, the server answers every request it answers correctly
/// and in order, keeps serving, and ends with no connection open and no budget held.
@Suite struct DirectAnswerRaceTests {
    @Test func directAnswersRaceResetsPipeliningAndCloses() throws {
        var limits = HTTPLimits()
        limits.requestMemoryBytes = 1 << 20
        let live = try LiveServer(limits: limits)
        defer { live.stop() }
        // Dispatch threads, not tasks: blocking socket calls in tasks would hold the two threads
        // of the concurrency pool and starve every async test running meanwhile.
        let collected = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            var failures: [String] = []
            var random = SystemRandomNumberGenerator()
            for round in 0..<40 {
                do {
                    let client = try live.connect()
                    let count = Int.random(in: 1...4, using: &random)
                    let targets = (0..<count).map { "/now?w=\(worker)&r=\(round)&i=\($0)" }
                    let closing = Bool.random(using: &random)
                    var bytes: [UInt8] = []
                    for (index, target) in targets.enumerated() {
                        bytes += DirectAnswerTests.get(target, close: closing && index == count - 1)
                    }
                    try client.send(bytes)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0:
                        resetConnection(client)  // gone while answers are being written
                    default:
                        for target in targets {
                            let answer = try client.readResponse()
                            if answer.status != 200 || answer.header("X-Target") != target {
                                failures.append("\(target): \(answer.status) \(answer.header("X-Target") ?? "-")")
                            }
                        }
                        if closing, !(try client.isClosedByPeer()) { failures.append("w\(worker) r\(round): not closed") }
                        client.close()
                    }
                } catch {
                    failures.append("w\(worker) r\(round): \(error)")
                }
            }
            collected.withLock { $0 += failures }
        }
        let failures = collected.withLock { $0 }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(waitUntil { live.server.connectionCount == 0 })
        #expect(waitUntil { live.server.requestMemoryInUse == 0 })
        let client = try live.connect()
        #expect(try client.exchange(DirectAnswerTests.get("/now?after")).header("X-Target") == "/now?after")
        #expect(live.server.directAnswerCount > 0)
    }
}
