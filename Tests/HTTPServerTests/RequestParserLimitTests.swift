import HTTPServer
import Testing

/// Feeds `input` one byte at a time and returns how many bytes had been fed when `next()`
/// threw, with the error; nil if it never threw.
private func failurePoint(_ input: [UInt8], limits: HTTPLimits = .init()) -> (fed: Int, error: HTTPParseError)? {
    var parser = RequestParser(limits: limits)
    for (index, byte) in input.enumerated() {
        parser.append([byte])
        do {
            while try parser.next() != nil {}
        } catch {
            return (index + 1, error)
        }
    }
    return nil
}

@Suite struct RequestParserLimitTests {
    @Test func defaults() {
        let limits = HTTPLimits()
        #expect(limits.maxRequestLineBytes == 8192)
        #expect(limits.maxHeaderBytes == 16384)
        #expect(limits.maxHeaderCount == 64)
        #expect(limits.maxBodyBytes == 1_048_576)
        #expect(limits.maxChunkExtensionBytes == 256)
        #expect(limits.maxLeadingEmptyLines == 4)
        #expect(limits.maxConnections == 1024)
        #expect(limits.headTimeout == .seconds(10))
        #expect(limits.bodyIdleTimeout == .seconds(10))
        #expect(limits.keepAliveTimeout == .seconds(30))
    }

    // MARK: Request line → 414

    @Test func requestLineAtTheLimitIsAccepted() {
        // "GET /" + padding + " HTTP/1.1" is exactly maxRequestLineBytes long.
        let line = "GET /" + String(repeating: "a", count: 8192 - 14) + " HTTP/1.1"
        #expect(line.utf8.count == 8192)
        let outcome = parse(line + "\r\nHost: h\r\n\r\n")
        #expect(outcome.error == nil && outcome.requests.count == 1)
    }

    @Test func requestLineOverTheLimitIs414AsSoonAsItsByteArrives() {
        let input = bytes("GET /" + String(repeating: "a", count: 10_000))  // no CRLF ever
        let failure = failurePoint(input)
        #expect(failure?.error == .uriTooLong)
        #expect(failure?.fed == 8193)
    }

    @Test func requestLineOverTheHeaderAllowanceIs431() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 64
        limits.maxRequestLineBytes = 1000
        // 60 bytes of line + CRLF + final CRLF cannot fit in 64.
        let failure = failurePoint(bytes("GET /" + String(repeating: "a", count: 200)), limits: limits)
        #expect(failure?.error == .headerFieldsTooLarge)
        #expect(failure?.fed == 61)
    }

    // MARK: Header section → 431

    /// A head of exactly `32 + padding` bytes, request line and final CRLF included.
    private func head(padding: Int) -> String {
        "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: padding) + "\r\n\r\n"
    }

    @Test func headerSectionAtTheLimitIsAccepted() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 128
        #expect(head(padding: 96).utf8.count == 128)
        let outcome = parse(head(padding: 96), limits: limits)
        #expect(outcome.error == nil && outcome.requests.count == 1)
    }

    @Test func headerSectionOverTheLimitIs431BeforeItEnds() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 128
        let input = bytes(head(padding: 97))
        let failure = failurePoint(input, limits: limits)
        #expect(failure?.error == .headerFieldsTooLarge)
        // Refused at the last value byte, before the two CRLFs.
        #expect(failure?.fed == input.count - 4)
    }

    @Test func headerSectionOverTheDefaultLimitIs431WithoutEverEnding() {
        let field = "X-Padding: " + String(repeating: "p", count: 1000) + "\r\n"
        let input = bytes("POST / HTTP/1.1\r\nHost: h\r\n" + String(repeating: field, count: 20))
        let failure = failurePoint(input)
        #expect(failure?.error == .headerFieldsTooLarge)
        #expect(failure.map { $0.fed <= 16 * 1024 } == true)
    }

    @Test func headerCountAtTheLimitIsAccepted() {
        let fields = (1...63).map { "X-\($0): v" }
        let outcome = parse("GET / HTTP/1.1\r\nHost: h\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.heads.first?.headers.count == 64)
    }

    @Test func headerCountOverTheLimitIs431BeforeTheSectionEnds() {
        let fields = (1...64).map { "X-\($0): v\r\n" }.joined()
        let outcome = parse("GET / HTTP/1.1\r\nHost: h\r\n" + fields)  // no final CRLF
        #expect(outcome.error == .headerFieldsTooLarge)
        #expect(outcome.events.isEmpty)
    }

    // MARK: Body → 413

    @Test func contentLengthAtTheLimitIsAccepted() throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let outcome = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits)
        #expect(outcome.error == nil)
        #expect(outcome.requests.map(\.body) == [bytes("0123456789")])

        var parser = RequestParser()
        parser.append(bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\n"))
        #expect(try parser.next() != nil)
        #expect(parser.isReadingBody)
    }

    @Test func contentLengthOverTheLimitIs413BeforeAnyBodyByte() {
        // Only the head is fed.
        let outcome = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n")
        #expect(outcome.error == .contentTooLarge)
        #expect(outcome.events.isEmpty)
    }

    @Test func chunkedBodyAtTheLimitIsAccepted() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let outcome = parse(chunkedRequest("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), limits: limits)
        #expect(outcome.error == nil)
        #expect(outcome.requests.map(\.body) == [bytes("helloworld")])
    }

    @Test func chunkedBodyOverTheLimitIs413BeforeTheChunkData() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        // The second chunk would make 11 bytes; its data is never sent.
        let outcome = parse(chunkedRequest("5\r\nhello\r\n6\r\n"), limits: limits)
        #expect(outcome.error == .contentTooLarge)
        #expect(outcome.heads.count == 1 && outcome.requests.isEmpty)

        let first = parse(chunkedRequest("100001\r\n"))  // one chunk of 1 MiB + 1 byte
        #expect(first.error == .contentTooLarge)
        #expect(first.requests.isEmpty)
    }

    // MARK: Chunk extensions → 400

    @Test func chunkExtensionsAtTheLimitAreAccepted() {
        var limits = HTTPLimits()
        limits.maxChunkExtensionBytes = 16
        // ";a=bbbbbbbbbbbbb" is 16 bytes; then 8 + 8 over two chunks.
        let one = parse(chunkedRequest("1;a=bbbbbbbbbbbbb\r\nx\r\n0\r\n\r\n"), limits: limits)
        #expect(one.error == nil && one.requests.map(\.body) == [bytes("x")])
        let two = parse(chunkedRequest("1;a=bbbbb\r\nx\r\n0;c=ddddd\r\n\r\n"), limits: limits)
        #expect(two.error == nil && two.requests.count == 1)
    }

    @Test func chunkExtensionsOverTheLimitAre400() throws {
        var limits = HTTPLimits()
        limits.maxChunkExtensionBytes = 16
        try expectRejected(.init("one long extension", chunkedRequest("1;a=bbbbbbbbbbbbbb\r\nx\r\n0\r\n\r\n"), 400), limits: limits)
        try expectRejected(.init("total over the chunks", chunkedRequest("1;a=bbbbb\r\nx\r\n0;c=dddddd\r\n\r\n"), 400), limits: limits)
    }

    @Test func endlessChunkExtensionIs400BeforeItsLineEnds() {
        let input = bytes(chunkedRequest("1;a=" + String(repeating: "b", count: 10_000)))
        let failure = failurePoint(input)
        #expect(failure?.error.status == 400)
        #expect(failure.map { $0.fed < input.count - 9_000 } == true)
    }

    // MARK: Trailer section → 431

    /// A trailer section of exactly `7 + padding` bytes after the last chunk.
    private func trailers(padding: Int) -> String {
        chunkedRequest("0\r\nX: " + String(repeating: "t", count: padding) + "\r\n\r\n")
    }

    @Test func trailerSectionIsMeasuredOnItsOwn() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 64
        let atLimit = parse(trailers(padding: 57), limits: limits)
        #expect(atLimit.error == nil && atLimit.requests.count == 1)
        let over = parse(trailers(padding: 58), limits: limits)
        #expect(over.error == .headerFieldsTooLarge)
        #expect(over.requests.isEmpty)
    }

    @Test func trailerCountOverTheLimitIs431() {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 2  // the head has two fields: Host and Transfer-Encoding
        let two = parse(chunkedRequest("0\r\nA: 1\r\nB: 2\r\n\r\n"), limits: limits)
        #expect(two.error == nil && two.requests.count == 1)
        let three = parse(chunkedRequest("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), limits: limits)
        #expect(three.error == .headerFieldsTooLarge)
        #expect(three.requests.isEmpty)
    }

    // MARK: Leading empty lines

    @Test func leadingEmptyLinesLimitIsConfigurable() {
        var limits = HTTPLimits()
        limits.maxLeadingEmptyLines = 1
        #expect(parse("\r\nGET / HTTP/1.0\r\n\r\n", limits: limits).requests.count == 1)
        #expect(parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n", limits: limits).error?.status == 400)
    }
}
