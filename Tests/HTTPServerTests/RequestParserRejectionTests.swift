import HTTPServer
import Testing

// One table per rule; every case names the status it must get. `expectRejected` also checks
// that no `.request` comes out, that any split of the input gives the same error, and that the
// error is sticky.

private let host = "Host: h\r\n"

let requestLineRejections: [Rejection] = [
    .init("double space", "GET  / HTTP/1.1\r\n\(host)\r\n", 400),
    .init("trailing space", "GET / HTTP/1.1 \r\n\(host)\r\n", 400),
    .init("leading space", " GET / HTTP/1.1\r\n\(host)\r\n", 400),
    .init("tab as separator", "GET\t/ HTTP/1.1\r\n\(host)\r\n", 400),
    .init("method not a token", "GE(T / HTTP/1.1\r\n\(host)\r\n", 400),
    .init("method only", "GET\r\n\(host)\r\n", 400),
    .init("no version (HTTP/0.9 style)", "GET /\r\n\r\n", 400),
    .init("relative target", "GET index.html HTTP/1.1\r\n\(host)\r\n", 400),
    .init("asterisk-form with GET", "GET * HTTP/1.1\r\n\(host)\r\n", 400),
    .init("unsupported scheme", "GET ftp://h/ HTTP/1.1\r\n\(host)\r\n", 400),
    .init("absolute-form without authority", "GET http:///x HTTP/1.1\r\n\(host)\r\n", 400),
    .init("userinfo in absolute-form", "GET http://u@h/ HTTP/1.1\r\n\(host)\r\n", 400),
    .init("NUL in target", "GET /a\u{0}b HTTP/1.1\r\n\(host)\r\n", 400),
    .init("DEL in target", "GET /a\u{7F} HTTP/1.1\r\n\(host)\r\n", 400),
    .init("non-ASCII in target", "GET /caf\u{E9} HTTP/1.1\r\n\(host)\r\n", 400),
    .init("fragment in target", "GET /a#b HTTP/1.1\r\n\(host)\r\n", 400),
    .init("bad pct-encoding", "GET /%zz HTTP/1.1\r\n\(host)\r\n", 400),
    .init("truncated pct-encoding", "GET /a%4 HTTP/1.1\r\n\(host)\r\n", 400),
    .init("lowercase version", "GET / http/1.1\r\n\(host)\r\n", 400),
    .init("version without minor", "GET / HTTP/1\r\n\(host)\r\n", 400),
    .init("two-digit minor", "GET / HTTP/1.10\r\n\(host)\r\n", 400),
    .init("two-digit major", "GET / HTTP/11.1\r\n\(host)\r\n", 400),
    .init("HTTPS/1.1", "GET / HTTPS/1.1\r\n\(host)\r\n", 400),
    .init("junk after version", "GET / HTTP/1.1x\r\n\(host)\r\n", 400),
    .init("HTTP/2.0", "GET / HTTP/2.0\r\n\(host)\r\n", 505),
    .init("HTTP/3.0", "GET / HTTP/3.0\r\n\(host)\r\n", 505),
    .init("HTTP/0.9 with version", "GET / HTTP/0.9\r\n\r\n", 505),
    .init("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
]

let leadingEmptyLineRejections: [Rejection] = [
    .init("five empty lines", String(repeating: "\r\n", count: 5) + "GET / HTTP/1.1\r\n\(host)\r\n", 400),
    .init("empty lines only", String(repeating: "\r\n", count: 5), 400),
    .init("bare LF as empty line", "\nGET / HTTP/1.1\r\n\(host)\r\n", 400),
]

let lineEndingRejections: [Rejection] = [
    .init("bare LF after request line", "GET / HTTP/1.1\n\(host)\r\n", 400),
    .init("bare LF after field", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
    .init("bare LF ending section", "GET / HTTP/1.1\r\n\(host)\n", 400),
    .init("bare CR in request line", "GET /a\rb HTTP/1.1\r\n\(host)\r\n", 400),
    .init("CR CR LF", "GET / HTTP/1.1\r\r\n\(host)\r\n", 400),
    .init("bare CR in field value", "GET / HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", 400),
    .init("bare CR ending section", "GET / HTTP/1.1\r\n\(host)\rX", 400),
    .init("bare LF in chunk-size line", chunkedRequest("5\nhello\r\n0\r\n\r\n"), 400),
    .init("bare LF after chunk data", chunkedRequest("5\r\nhello\n0\r\n\r\n"), 400),
    .init("bare CR after chunk data", chunkedRequest("5\r\nhello\rX0\r\n\r\n"), 400),
    .init("bare LF in trailer section", chunkedRequest("0\r\nX: y\n\r\n"), 400),
    .init("bare LF ending trailer section", chunkedRequest("0\r\n\n"), 400),
]

let fieldLineRejections: [Rejection] = [
    .init("space before colon", request("Host : h"), 400),
    .init("tab before colon", request("Host\t: h"), 400),
    .init("obs-fold with space", request("Host: h", "X: a", " b"), 400),
    .init("obs-fold with tab", request("Host: h", "X: a", "\tb"), 400),
    .init("first field starts with space", request(" Host: h"), 400),
    .init("empty name", request("Host: h", ": v"), 400),
    .init("no colon", request("Host: h", "X-Flag"), 400),
    .init("separator in name", request("Host: h", "X(y): v"), 400),
    .init("space in name", request("Host: h", "X Y: v"), 400),
    .init("non-ASCII in name", request("Host: h", "X-\u{E9}: v"), 400),
    .init("NUL in value", request("Host: h", "X: a\u{0}b"), 400),
    .init("SOH in value", request("Host: h", "X: a\u{1}b"), 400),
    .init("VT in value", request("Host: h", "X: a\u{B}b"), 400),
    .init("ESC in value", request("Host: h", "X: \u{1B}[0m"), 400),
    .init("DEL in value", request("Host: h", "X: a\u{7F}"), 400),
]

let hostRejections: [Rejection] = [
    .init("HTTP/1.1 without Host", request("X: y"), 400),
    .init("two Host lines", request("Host: a", "Host: a"), 400),
    .init("two Host lines in HTTP/1.0", request("Host: a", "Host: b", version: "HTTP/1.0"), 400),
    .init("Host with space", request("Host: a b"), 400),
    .init("Host with path", request("Host: a/b"), 400),
    .init("Host with userinfo", request("Host: u@h"), 400),
]

private func withContentLength(_ value: String) -> String {
    "POST / HTTP/1.1\r\n\(host)Content-Length: \(value)\r\n\r\nhello"
}

let contentLengthRejections: [Rejection] = [
    .init("plus sign", withContentLength("+5"), 400),
    .init("negative", withContentLength("-1"), 400),
    .init("hex", withContentLength("0x5"), 400),
    .init("internal space", withContentLength("5 5"), 400),
    .init("empty", withContentLength(""), 400),
    .init("decimal point", withContentLength("5.0"), 400),
    .init("trailing letter", withContentLength("5a"), 400),
    .init("non-ASCII digit", withContentLength("\u{0665}"), 400),
    .init("comma list of equal values", withContentLength("5,5"), 400),
    .init("comma list with space", withContentLength("5, 5"), 400),
    .init("20 digits (overflow)", withContentLength("99999999999999999999"), 400),
    .init("Int.max + 1 (overflow)", withContentLength("9223372036854775808"), 400),
    .init("two equal fields", "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    .init("two different fields", "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
]

private func withTransferEncoding(_ value: String, version: String = "HTTP/1.1") -> String {
    "POST / \(version)\r\n\(host)Transfer-Encoding: \(value)\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
}

let transferEncodingRejections: [Rejection] = [
    .init("with Content-Length", "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    .init("Content-Length after it", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    .init("in HTTP/1.0", withTransferEncoding("chunked", version: "HTTP/1.0"), 400),
    .init("gzip only", withTransferEncoding("gzip"), 400),
    .init("identity only", withTransferEncoding("identity"), 400),
    .init("xchunked only", withTransferEncoding("xchunked"), 400),
    .init("chunked not last", withTransferEncoding("chunked, gzip"), 400),
    .init("chunked twice", withTransferEncoding("chunked, chunked"), 400),
    .init("chunked twice on two lines", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    .init("chunked, then gzip on another line", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400),
    .init("chunked with a parameter", withTransferEncoding("chunked;x=1"), 400),
    .init("empty", withTransferEncoding(""), 400),
    .init("commas only", withTransferEncoding(" , ,"), 400),
    .init("space inside a coding", withTransferEncoding("chun ked"), 400),
    .init("dangling semicolon", withTransferEncoding("gzip;, chunked"), 400),
    .init("gzip then chunked", withTransferEncoding("gzip, chunked"), 501),
    .init("identity then chunked", withTransferEncoding("identity, chunked"), 501),
    .init("xchunked then chunked", withTransferEncoding("xchunked, chunked"), 501),
    .init("gzip line then chunked line", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
]

let chunkedBodyRejections: [Rejection] = [
    .init("0x prefix", chunkedRequest("0x5\r\nhello\r\n0\r\n\r\n"), 400),
    .init("minus sign", chunkedRequest("-5\r\nhello\r\n0\r\n\r\n"), 400),
    .init("plus sign", chunkedRequest("+5\r\nhello\r\n0\r\n\r\n"), 400),
    .init("leading space", chunkedRequest(" 5\r\nhello\r\n0\r\n\r\n"), 400),
    .init("trailing space", chunkedRequest("5 \r\nhello\r\n0\r\n\r\n"), 400),
    .init("space before extension", chunkedRequest("5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400),
    .init("underscore", chunkedRequest("5_0\r\nhello\r\n0\r\n\r\n"), 400),
    .init("not hex", chunkedRequest("g\r\nhello\r\n0\r\n\r\n"), 400),
    .init("empty size", chunkedRequest("\r\nhello\r\n0\r\n\r\n"), 400),
    .init("17 hex digits", chunkedRequest("00000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
    .init("size beyond Int", chunkedRequest("FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), 413),
    .init("data not followed by CRLF", chunkedRequest("5\r\nhelloXY0\r\n\r\n"), 400),
    .init("data longer than the size", chunkedRequest("5\r\nhello!\r\n0\r\n\r\n"), 400),
    .init("empty extension", chunkedRequest("5;\r\nhello\r\n0\r\n\r\n"), 400),
    .init("extension without name", chunkedRequest("5;=v\r\nhello\r\n0\r\n\r\n"), 400),
    .init("extension with empty value", chunkedRequest("5;a=\r\nhello\r\n0\r\n\r\n"), 400),
    .init("unterminated quoted extension", chunkedRequest("5;a=\"x\r\nhello\r\n0\r\n\r\n"), 400),
    .init("two extension values", chunkedRequest("5;a=b c\r\nhello\r\n0\r\n\r\n"), 400),
    .init("control byte in extension", chunkedRequest("5;a=\"\u{1}\"\r\nhello\r\n0\r\n\r\n"), 400),
    .init("trailer with space before colon", chunkedRequest("0\r\nX : y\r\n\r\n"), 400),
    .init("trailer obs-fold", chunkedRequest("0\r\nX: y\r\n z\r\n\r\n"), 400),
    .init("trailer without colon", chunkedRequest("0\r\nX-Flag\r\n\r\n"), 400),
    .init("trailer with NUL", chunkedRequest("0\r\nX: a\u{0}\r\n\r\n"), 400),
]

let expectRejections: [Rejection] = [
    .init("unknown expectation", request("Host: h", "Expect: foo"), 417),
    .init("100-continue plus another", request("Host: h", "Expect: 100-continue, foo"), 417),
    .init("100-continue with a parameter", request("Host: h", "Expect: 100-continue;x=1"), 417),
    .init("second Expect line", request("Host: h", "Expect: 100-continue", "Expect: 200-ok"), 417),
    .init("unknown expectation in HTTP/1.0", request("Expect: foo", version: "HTTP/1.0"), 417),
]

@Suite struct RequestParserRejectionTests {
    @Test(arguments: requestLineRejections)
    func requestLine(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: leadingEmptyLineRejections)
    func leadingEmptyLines(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: lineEndingRejections)
    func lineEndings(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: fieldLineRejections)
    func fieldLines(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: hostRejections)
    func host(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: contentLengthRejections)
    func contentLength(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: transferEncodingRejections)
    func transferEncoding(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: chunkedBodyRejections)
    func chunkedBody(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test(arguments: expectRejections)
    func expect(_ rejection: Rejection) throws { try expectRejected(rejection) }

    @Test func upToFourLeadingEmptyLinesAreSkipped() {
        let outcome = parse(String(repeating: "\r\n", count: 4) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(outcome.error == nil && outcome.requests.count == 1)
    }

    @Test func http10WithoutHostIsAccepted() {
        let outcome = parse("GET / HTTP/1.0\r\n\r\n")
        #expect(outcome.error == nil && outcome.requests.map(\.head.version) == [.http1_0])
    }

    @Test func errorsNameTheirStatus() {
        let all: [(HTTPParseError, Int)] = [
            (.badRequest("x"), 400), (.uriTooLong, 414), (.headerFieldsTooLarge, 431),
            (.contentTooLarge, 413), (.notImplemented("gzip"), 501), (.versionNotSupported, 505),
            (.expectationFailed, 417),
        ]
        for (error, status) in all {
            #expect(error.status == status)
            #expect(error.description.hasPrefix("\(status) "))
        }
        #expect(HTTPParseError.badRequest("bare LF").description.contains("bare LF"))
        #expect(HTTPParseError.notImplemented("gzip").description.contains("gzip"))
    }
}
