import HTTPServer
import TestSupport
import Testing

/// A request the server must refuse over the wire, with `HTTPLimits.small`.
struct WireRejection: Sendable, CustomTestStringConvertible {
    var label: String
    var input: String
    var status: Int

    init(_ label: String, _ input: String, _ status: Int) {
        self.label = label
        self.input = input
        self.status = status
    }

    var testDescription: String { label }
}

private let host = "Host: 127.0.0.1\r\n"

// The oversized cases stop right after the limit is passed: the answer must come without the
// rest of the line, the section or the body ever being sent.
let wireRejections: [WireRejection] = [
    .init("Content-Length with Transfer-Encoding",
          "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    .init("bad Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: 5a\r\n\r\nhello", 400),
    .init("obs-fold", "GET / HTTP/1.1\r\n\(host)X-Long: a\r\n b\r\n\r\n", 400),
    .init("space before colon", "GET / HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n", 400),
    .init("bare CR in a field value", "GET / HTTP/1.1\r\n\(host)X-A: a\rb\r\n\r\n", 400),
    .init("missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
    .init("unknown transfer coding", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    .init("request line over the limit, unfinished", "GET /" + String(repeating: "a", count: 200), 414),
    .init("header section over the limit, unfinished",
          "GET / HTTP/1.1\r\n\(host)" + String(repeating: "X-Pad: \(String(repeating: "p", count: 60))\r\n", count: 4), 431),
    .init("Content-Length over maxBodyBytes, head only", "POST / HTTP/1.1\r\n\(host)Content-Length: 1000\r\n\r\n", 413),
    .init("Content-Length over maxBodyBytes with Expect: 100-continue",
          "POST / HTTP/1.1\r\n\(host)Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n", 413),
    .init("HTTP/2.0", "GET / HTTP/2.0\r\n\(host)\r\n", 505),
]

@Suite struct HTTPServerRejectionLiveTests {
    @Test(arguments: wireRejections)
    func framingErrorIsAnsweredThenClosed(_ rejection: WireRejection) throws {
        let live = try LiveServer(limits: .small)
        defer { live.stop() }
        let client = try live.connect()
        try client.send(rejection.input)
        // readResponse, not exchange: a 100 Continue before the rejection would be a failure.
        let response = try client.readResponse()
        #expect(response.status == rejection.status)
        #expect(response.header("Connection") == "close")
        #expect(response.body.isEmpty)
        #expect(try client.isClosedByPeer())
        #expect(live.handlerCalls == 0)
        #expect(live.rejectedStatuses == [rejection.status])
        #expect(waitUntil { live.server.connectionCount == 0 })
    }

    @Test func errorAfterAGoodRequestOnTheSameConnection() throws {
        let live = try LiveServer(limits: .small)
        defer { live.stop() }
        let client = try live.connect()
        let good = try client.exchange(RawHTTPClient.post("/ok", body: bytes("fine")))
        #expect(good.status == 200)
        #expect(good.header("Connection") == nil)
        let bad = try client.exchange(bytes("GET / HTTP/1.1\r\n\(host)Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"))
        #expect(bad.status == 400)
        #expect(bad.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
        #expect(live.handlerCalls == 1)
        #expect(live.rejectedStatuses == [400])
    }

    @Test func requestPipelinedBehindAnErrorIsNeverHandled() throws {
        let live = try LiveServer(limits: .small)
        defer { live.stop() }
        let client = try live.connect()
        try client.send("GET / HTTP/1.1\r\nHost : bad\r\n\r\n" + "GET /second HTTP/1.1\r\n\(host)\r\n")
        let response = try client.readResponse()
        #expect(response.status == 400)
        #expect(try client.isClosedByPeer())
        #expect(live.handlerCalls == 0)
    }

    @Test func tooLargeBodySentAnywayStillGets413() throws {
        let live = try LiveServer(limits: .small)
        defer { live.stop() }
        let client = try live.connect()
        // A client that sends its body without waiting for an answer (no Expect).
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 32 * 1024)
        try client.send(bytes("POST / HTTP/1.1\r\n\(host)Content-Length: \(body.count)\r\n\r\n") + body)
        let response = try client.readResponse()
        #expect(response.status == 413)
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
        #expect(live.handlerCalls == 0)
    }

    @Test func chunkedBodyOverTheLimitIsRefusedBeforeItsData() throws {
        let live = try LiveServer(limits: .small)
        defer { live.stop() }
        let client = try live.connect()
        // 0x41 = 65 > maxBodyBytes (64): refused on the size line, before the chunk's data.
        try client.send("POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n41\r\n")
        let response = try client.readResponse()
        #expect(response.status == 413)
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByPeer())
        #expect(live.handlerCalls == 0)
    }
}
