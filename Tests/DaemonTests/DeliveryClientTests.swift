import Foundation
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

/// The answer reader of `selftest` and `send`: what real servers send back (framed by length,
/// by chunks, by closing; interim 100s first), read byte by byte as it may arrive.
@Suite struct HTTPAnswerTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Every prefix but the whole is incomplete; the whole gives `expected`.
    func expectOnlyWhole(_ text: String, _ expected: HTTPAnswer.Parse, sourceLocation: SourceLocation = #_sourceLocation) {
        let all = Self.bytes(text)
        for cut in 0..<all.count {
            #expect(HTTPAnswer.parse(Array(all[0..<cut]), atEnd: false) == .needMore, "prefix of \(cut) bytes", sourceLocation: sourceLocation)
        }
        #expect(HTTPAnswer.parse(all, atEnd: false) == expected, sourceLocation: sourceLocation)
    }

    @Test func emptyAnswerWithContentLength() {
        expectOnlyWhole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        .complete(HTTPAnswer(status: 200, headers: [.init(name: "Content-Length", value: "0"), .init(name: "Connection", value: "close")], bodyLength: 0)))
    }

    @Test func bodyWithContentLengthAndACookie() {
        expectOnlyWhole("HTTP/1.1 401 Unauthorized\r\nset-cookie: a=b\r\ncontent-length: 5\r\n\r\nhello",
                        .complete(HTTPAnswer(status: 401, headers: [.init(name: "set-cookie", value: "a=b"), .init(name: "content-length", value: "5")], bodyLength: 5)))
    }

    @Test func chunkedBodyWithExtensionAndTrailer() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n"
        expectOnlyWhole(text, .complete(HTTPAnswer(status: 200, headers: [.init(name: "Transfer-Encoding", value: "chunked")], bodyLength: 31)))
    }

    @Test func interimContinueIsSkipped() {
        expectOnlyWhole("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                        .complete(HTTPAnswer(status: 200, headers: [.init(name: "Content-Length", value: "0")], bodyLength: 0)))
    }

    @Test func bodyWithoutLengthEndsWithTheConnection() {
        let text = Self.bytes("HTTP/1.0 502 Bad Gateway\r\nServer: proxy\r\n\r\n<html>bad gateway</html>")
        #expect(HTTPAnswer.parse(text, atEnd: false) == .needMore)
        #expect(HTTPAnswer.parse(text, atEnd: true) == .complete(HTTPAnswer(status: 502, headers: [.init(name: "Server", value: "proxy")], bodyLength: 24)))
    }

    @Test func noContentHasNoBody() {
        #expect(HTTPAnswer.parse(Self.bytes("HTTP/1.1 204 No Content\r\n\r\n"), atEnd: false)
            == .complete(HTTPAnswer(status: 204, headers: [], bodyLength: 0)))
    }

    @Test func whatIsNotAnHTTPAnswerIsNamed() {
        func reason(_ text: String) -> String? {
            if case let .invalid(reason) = HTTPAnswer.parse(Self.bytes(text), atEnd: true) { return reason }
            return nil
        }
        #expect(reason("SSH-2.0-OpenSSH_9.2\r\n\r\n")?.contains("status line") == true)
        #expect(reason("HTTP/1.1 20 OK\r\n\r\n")?.contains("status line") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")?.contains("header line") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")?.contains("Content-Length") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")?.contains("Content-Length") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")?.contains("chunk size") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n")?.contains("CRLF") == true)
        #expect(reason("HTTP/1.1 200 OK\r\n" + String(repeating: "X-Big: aaaaaaaaaaaaaaaaaaaa\r\n", count: 3_000))?.contains("head over") == true)
        // What a lenient reader would accept and a strict peer would frame differently.
        #expect(reason("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello")?.contains("header line") == true)
        #expect(reason("HTTP/1.1 200 OK\r\n Content-Length: 5\r\n\r\nhello")?.contains("header line") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nContent-Length: +0\r\n\r\n")?.contains("Content-Length") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello")?.contains("Content-Length") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n")?.contains("Content-Length") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n")?.contains("chunk size") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n")?.contains("chunk size") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\u{FF15}\r\nhello\r\n0\r\n\r\n")?.contains("chunk size") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 1 \r\nx\r\n0\r\n\r\n")?.contains("chunk size") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nX: a\rContent-Length: 5\r\n\r\nhello")?.contains("header line") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nX: a\u{0}b\r\nContent-Length: 0\r\n\r\n")?.contains("header line") == true)
        #expect(reason("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")?.contains("HTTP/1.0") == true)
    }

    /// The reader keeps its place between pieces: fed a byte at a time, every answer above reads
    /// as it does whole.
    @Test func readingByteByByteGivesTheSameAnswer() {
        let answers = ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                       "HTTP/1.1 401 Unauthorized\r\nset-cookie: a=b\r\ncontent-length: 5\r\n\r\nhello",
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n",
                       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
        for text in answers {
            let whole = HTTPAnswer.parse(Self.bytes(text), atEnd: false)
            var reader = HTTPAnswerReader()
            var last = HTTPAnswer.Parse.needMore
            for byte in Self.bytes(text) {
                #expect(last == .needMore, "\(text.debugDescription) ended early")
                last = reader.feed([byte], atEnd: false)
            }
            #expect(last == whole, "\(text.debugDescription)")
            guard case .complete = whole else { Issue.record("\(text.debugDescription) is not complete"); continue }
        }
    }

    /// Limits that keep a hostile server from holding the client: interim answers, an unasked
    /// 101, chunk-size lines and trailer sections without end.
    @Test func endlessInterimAnswersChunkLinesAndTrailersAreRefused() {
        func reason(_ text: String) -> String? {
            if case let .invalid(reason) = HTTPAnswer.parse(Array(text.utf8), atEnd: false) { return reason }
            return nil
        }
        let continues = String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: HTTPAnswer.maxInterimAnswers)
        #expect(HTTPAnswer.parse(Array((continues + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").utf8), atEnd: false)
            == .complete(HTTPAnswer(status: 200, headers: [.init(name: "Content-Length", value: "0")], bodyLength: 0)))
        #expect(reason(continues + "HTTP/1.1 100 Continue\r\n\r\n")?.contains("interim") == true)
        #expect(reason("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")?.contains("101") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "a", count: 5_000))?.contains("chunk-size line") == true)
        #expect(reason("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X-T: 1\r\n", count: 10_000))?.contains("trailer section") == true)
    }

    /// A million one-byte chunks, arriving in 16 KiB pieces: read through once (the reader
    /// does not start again from the first byte on every piece).
    @Test func manyTinyChunksAreReadOnce() {
        var text = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let chunk = Array("1\r\nx\r\n".utf8)
        text.reserveCapacity(text.count + chunk.count * 1_000_000 + 5)
        for _ in 0..<1_000_000 { text += chunk }
        text += Array("0\r\n\r\n".utf8)
        var reader = HTTPAnswerReader()
        var result = HTTPAnswer.Parse.needMore
        var offset = 0
        while offset < text.count {
            let end = min(offset + 16_384, text.count)
            result = reader.feed(Array(text[offset..<end]), atEnd: false)
            offset = end
        }
        #expect(result == .complete(HTTPAnswer(status: 200, headers: [.init(name: "Transfer-Encoding", value: "chunked")], bodyLength: 1_000_000)))
        // Each byte looked at about once: a reader that searched again from the first byte on
        // every piece would look at hundreds of times the answer's size.
        #expect(reader.examinedBytes <= 2 * text.count, "\(reader.examinedBytes) bytes examined for \(text.count)")
    }

    /// Framing that outweighs its body (13 bytes of chunk framing per body byte) is bounded by
    /// the bytes held, not by the body.
    @Test func framingHeavierThanItsBodyIsBounded() {
        var reader = HTTPAnswerReader()
        var result = reader.feed(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8), atEnd: false)
        let piece = Array(String(repeating: "00000001\r\nx\r\n", count: 1_260).utf8)
        var fed = 0
        while result == .needMore && fed < 4 * HTTPAnswer.maxAnswerBytes {
            result = reader.feed(piece, atEnd: false)
            fed += piece.count
        }
        #expect(result == .invalid("answer over \(HTTPAnswer.maxAnswerBytes) bytes"))
    }

    @Test func chunkSizesWithLeadingZerosOrBeforeAnExtension() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000001\r\nx\r\n2 ;ext=1\r\nyz\r\n0\r\n\r\n"
        #expect(HTTPAnswer.parse(Self.bytes(text), atEnd: false) == .complete(HTTPAnswer(status: 200, headers: [.init(name: "Transfer-Encoding", value: "chunked")], bodyLength: 3)))
    }

    /// A Transfer-Encoding other than chunked last frames the body by the close, and
    /// Content-Length beside it does not count (RFC 9112 §6.3).
    @Test func transferEncodingWithoutChunkedReadsToTheClose() {
        let text = Self.bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nabcdef")
        #expect(HTTPAnswer.parse(text, atEnd: false) == .needMore)
        guard case let .complete(answer) = HTTPAnswer.parse(text, atEnd: true) else { Issue.record("not complete at the close"); return }
        #expect(answer.bodyLength == 6)
    }
}

@Suite struct DeliveryTargetTests {
    @Test func httpsWithDefaultPort() throws {
        let target = try #require(DeliveryTarget("https://hooks.example.com/webhooks/xero?x=1%202"))
        #expect(target == DeliveryTarget(https: true, host: "hooks.example.com", port: 443, authority: "hooks.example.com", target: "/webhooks/xero?x=1%202"))
    }

    @Test func ipv6LiteralWithPort() throws {
        let target = try #require(DeliveryTarget("http://[::1]:8080"))
        #expect(target.host == "::1")
        #expect(target.port == 8080)
        #expect(target.authority == "[::1]:8080")
        #expect(target.target == "/")
        #expect(!target.https)
    }

    /// An internationalised name is resolved and checked against the certificate in its ASCII
    /// form; the Host header carries that form too.
    @Test func internationalisedHostInPunycode() throws {
        let target = try #require(DeliveryTarget("https://BÜCHER.example:8443/hook"))
        #expect(target.host == "xn--bcher-kva.example")
        #expect(target.authority == "xn--bcher-kva.example:8443")
    }

    @Test func notAnHTTPURL() {
        for text in ["ftp://example.com/", "/webhooks/xero", "http://", "https://user:pass@example.com/", "http://example.com:0/", "example.com",
                     "http://[127.0.0.1]/", "http://[example.com]/", "http://b%C3%BCcher.example/"] {
            #expect(DeliveryTarget(text) == nil, "\(text)")
        }
    }
}

extension DeliveryTarget {
    init(https: Bool, host: String, port: UInt16, authority: String, target: String) {
        self = DeliveryTarget("http://placeholder")!
        self.https = https
        self.host = host
        self.port = port
        self.authority = authority
        self.target = target
    }
}

/// The client against servers that misbehave on a real socket: one that trickles its answer a
/// byte at a time for ever, one that closes mid-answer.
@Suite struct DeliveryClientHostileServerTests {
    /// A one-connection server on 127.0.0.1 that reads the request head, then runs `behave`.
    final class OneShotServer: @unchecked Sendable {
        let port: UInt16
        private let fd: Int32
        private let done = DispatchSemaphore(value: 0)

        init(_ behave: @escaping @Sendable (Int32) -> Void) throws {
            let (listener, port) = loopbackListener()
            fd = listener
            self.port = port
            let done = self.done
            Thread.detachNewThread {
                let client = accept(listener, nil, nil)
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = recv(client, &buffer, buffer.count, 0)
                behave(client)
                close(client)
                done.signal()
            }
        }

        func finish() {
            done.wait()
            close(fd)
        }
    }

    @Test func aTricklingServerIsGivenUpOnAtTheDeadline() throws {
        let server = try OneShotServer { client in
            let text = Array("HTTP/1.1 200 OK\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 1000)
            for byte in text {
                guard send(client, [byte], 1, Int32(MSG_NOSIGNAL)) == 1 else { return }  // the client left
                usleep(50_000)  // the hostile server's pace, not a wait of the test
            }
        }
        let client = DeliveryClient(caFile: nil, timeoutSeconds: 1)
        let started = Date()
        let result = client.post(try #require(DeliveryTarget("http://127.0.0.1:\(server.port)/")), body: [], signature: nil)
        guard case let .failure(failure) = result else { Issue.record("a trickled answer was accepted"); return }
        #expect(failure.description.hasPrefix("no complete answer within 1 s"), "\(failure)")
        #expect(Date().timeIntervalSince(started) < 5)
        server.finish()
    }

    /// A server that starts a TLS record and then sends one byte every 50 ms: each byte comes
    /// well within any per-read timeout, so only a deadline on the whole handshake ends it.
    @Test func aTricklingHandshakeIsGivenUpOnAtTheDeadline() throws {
        let server = try OneShotServer { client in
            let text: [UInt8] = [0x16, 0x03, 0x03, 0x40, 0x00] + [UInt8](repeating: 0x61, count: 1000)
            for byte in text {
                guard send(client, [byte], 1, Int32(MSG_NOSIGNAL)) == 1 else { return }
                usleep(50_000)  // the hostile server's pace, not a wait of the test
            }
        }
        let started = Date()
        let result = DeliveryClient(caFile: nil, timeoutSeconds: 1).post(try #require(DeliveryTarget("https://127.0.0.1:\(server.port)/")), body: [], signature: nil)
        guard case let .failure(failure) = result else { Issue.record("a trickled handshake was accepted"); return }
        #expect(failure.description == "TLS handshake with 127.0.0.1: handshake: timed out after 1 s", "\(failure)")
        #expect(Date().timeIntervalSince(started) < 5)
        server.finish()
    }

    /// An answer framed by the close, over TLS, from a server that closes without close_notify
    /// (OpenSSL 3 calls that "unexpected eof"): the answer counts. An answer cut short the same
    /// way is still reported as cut.
    @Test func aTLSAnswerEndedByACloseWithoutCloseNotify() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pki = try TestCertificates.make(in: dir.path, name: "eof")
        for closeNotify in [false, true] {
            let server = try OneShotTLSServer(certificates: pki, answer: Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody".utf8), closeNotify: closeNotify)
            let result = DeliveryClient(caFile: pki.caFile, timeoutSeconds: 10).post(try #require(DeliveryTarget("https://localhost:\(server.port)/")), body: [], signature: nil)
            guard case let .success(answer) = result else { Issue.record("close_notify \(closeNotify): \(result)"); server.finish(); continue }
            #expect(answer.status == 200 && answer.bodyLength == 4)
            server.finish()
        }
        let cut = try OneShotTLSServer(certificates: pki, answer: Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8), closeNotify: false)
        let result = DeliveryClient(caFile: pki.caFile, timeoutSeconds: 10).post(try #require(DeliveryTarget("https://localhost:\(cut.port)/")), body: [], signature: nil)
        guard case let .failure(failure) = result else { Issue.record("a cut answer was accepted"); cut.finish(); return }
        #expect(failure.description == "the connection closed before the answer was complete")
        cut.finish()
    }

    /// A server that never stops sending (1,000 bytes every 10 ms of a body it says is 8 MB
    /// long): no read ever waits, so only the deadline checked after every read ends it.
    @Test func aServerThatKeepsSendingIsGivenUpOnAtTheDeadline() throws {
        let server = try OneShotServer { client in
            let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 8000000\r\n\r\n".utf8)
            guard send(client, head, head.count, Int32(MSG_NOSIGNAL)) == head.count else { return }
            let piece = [UInt8](repeating: 0x61, count: 1_000)
            for _ in 0..<8_000 {
                guard send(client, piece, piece.count, Int32(MSG_NOSIGNAL)) == piece.count else { return }  // the client left
                usleep(10_000)  // the server's pace, not a wait of the test
            }
        }
        let started = Date()
        let result = DeliveryClient(caFile: nil, timeoutSeconds: 1).post(try #require(DeliveryTarget("http://127.0.0.1:\(server.port)/")), body: [], signature: nil)
        guard case let .failure(failure) = result else { Issue.record("an endless answer was accepted"); return }
        #expect(failure.description.hasPrefix("no complete answer within 1 s"), "\(failure)")
        #expect(Date().timeIntervalSince(started) < 5)
        server.finish()
    }

    @Test func aServerThatClosesMidAnswerIsReportedSo() throws {
        let server = try OneShotServer { client in
            let text = Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8)
            _ = send(client, text, text.count, Int32(MSG_NOSIGNAL))
        }
        let result = DeliveryClient(caFile: nil, timeoutSeconds: 5).post(try #require(DeliveryTarget("http://127.0.0.1:\(server.port)/")), body: [], signature: nil)
        guard case let .failure(failure) = result else { Issue.record("a cut answer was accepted"); return }
        #expect(failure.description == "the connection closed before the answer was complete")
        server.finish()
    }
}
