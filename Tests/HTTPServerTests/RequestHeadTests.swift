import HTTPServer
import Testing

/// A header-interpretation case: the version, the extra field lines, and the expected value.
struct HeadCase: Sendable, CustomTestStringConvertible {
    var version: String
    var fields: [String]
    var expected: Bool

    init(_ version: String, _ fields: [String], _ expected: Bool) {
        self.version = version
        self.fields = fields
        self.expected = expected
    }

    var testDescription: String { "\(version) \(fields) → \(expected)" }

    func parseHead() throws -> HTTPRequestHead {
        let outcome = parse("GET / \(version)\r\nHost: h\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n")
        #expect(outcome.error == nil)
        return try #require(outcome.heads.first)
    }
}

@Suite struct RequestHeadTests {
    @Test(arguments: [
        HeadCase("HTTP/1.1", [], true),
        HeadCase("HTTP/1.1", ["Connection: close"], false),
        HeadCase("HTTP/1.1", ["Connection: CLOSE"], false),
        HeadCase("HTTP/1.1", ["Connection: keep-alive"], true),
        HeadCase("HTTP/1.1", ["Connection: upgrade, Close"], false),
        HeadCase("HTTP/1.1", ["Connection: keep-alive", "connection: close"], false),
        HeadCase("HTTP/1.1", ["Connection: closed"], true),
        HeadCase("HTTP/1.1", ["X-Connection: close"], true),
        HeadCase("HTTP/1.2", ["Connection: te"], true),
        HeadCase("HTTP/1.0", [], false),
        HeadCase("HTTP/1.0", ["Connection: keep-alive"], true),
        HeadCase("HTTP/1.0", ["Connection: Keep-Alive"], true),
        HeadCase("HTTP/1.0", ["Connection: close"], false),
        HeadCase("HTTP/1.0", ["Connection: keep-alive, close"], false),
        HeadCase("HTTP/1.0", ["Keep-Alive: timeout=5"], false),
    ])
    func keepAlive(_ testCase: HeadCase) throws {
        #expect(try testCase.parseHead().keepAlive == testCase.expected)
    }

    @Test(arguments: [
        HeadCase("HTTP/1.1", [], false),
        HeadCase("HTTP/1.1", ["Expect: 100-continue"], true),
        HeadCase("HTTP/1.1", ["expect: 100-Continue"], true),
        HeadCase("HTTP/1.1", ["Expect:  100-CONTINUE  "], true),
        HeadCase("HTTP/1.1", ["Expect:"], false),
        // RFC 9110 §10.1.1: ignored in HTTP/1.0.
        HeadCase("HTTP/1.0", ["Expect: 100-continue"], false),
    ])
    func expectsContinue(_ testCase: HeadCase) throws {
        #expect(try testCase.parseHead().expectsContinue == testCase.expected)
    }

    @Test func headersLookUpNamesWithoutCase() {
        let headers: HTTPHeaders = [
            "Content-Type": "application/json", "X-Xero-Signature": "abc=", "x-multi": "1", "X-MULTI": "2",
        ]
        #expect(headers.count == 4)
        #expect(headers["content-type"] == "application/json")
        #expect(headers["CONTENT-TYPE"] == "application/json")
        #expect(headers["x-xero-signature"] == "abc=")
        #expect(headers["X-Multi"] == "1")  // the first one
        #expect(headers.values("x-Multi") == ["1", "2"])
        #expect(headers["Content-Typ"] == nil && headers["Content-Types"] == nil)
        #expect(headers.values("missing").isEmpty)
        #expect(headers.contains("X-XERO-SIGNATURE") && !headers.contains("Host"))
        #expect(headers.occurrence("x-xero-SIGNATURE") == .one("abc="))
        #expect(headers.occurrence("x-multi") == .several)
        #expect(headers.occurrence("Host") == .absent)
        #expect(headers.map(\.name) == ["Content-Type", "X-Xero-Signature", "x-multi", "X-MULTI"])
    }

    @Test func parsedHeadersKeepOrderAndDuplicates() throws {
        let head = try HeadCase("HTTP/1.1", ["Accept: a", "ACCEPT: b", "Via: x"], true).parseHead()
        #expect(head.headers.count == 4)
        #expect(head.headers.values("accept") == ["a", "b"])
        #expect(head.headers.map(\.value) == ["h", "a", "b", "x"])
        #expect(head.headers["HOST"] == "h")
    }
}
