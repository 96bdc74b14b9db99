import Testing
@testable import ByteJSON

@Suite struct JSONParserTests {
    @Test func keepsByteRangesOfValues() throws {
        let text = #"{"a": [1, {"b" : "c"}] , "d":null}"#
        let bytes = Array(text.utf8)
        let root = try JSONParser.parse(bytes)
        let a = try #require(root["a"])
        #expect(String(decoding: bytes[a.range], as: UTF8.self) == #"[1, {"b" : "c"}]"#)
        let inner = try #require(a.arrayValue?[1])
        #expect(String(decoding: bytes[inner.range], as: UTF8.self) == #"{"b" : "c"}"#)
        #expect(inner["b"]?.stringValue == "c")
        #expect(root["d"]?.kind == .null)
    }

    @Test func decodesEscapesAndUnicode() throws {
        let root = try JSONParser.parse(Array(#"{"s":"a\"b\\c\/d\n\u00e9\ud83d\ude00é"}"#.utf8))
        #expect(root["s"]?.stringValue == "a\"b\\c/d\né😀é")
    }

    @Test func numbers() throws {
        let root = try JSONParser.parse(Array(#"[0, -1, 12.5, 1e3, -0.25E-2, 9223372036854775807]"#.utf8))
        let items = try #require(root.arrayValue)
        #expect(items.map(\.int64Value) == [0, -1, nil, nil, nil, Int64.max])
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "'a'", "01", "1.", ".5", "-", "1e", "+1", "NaN",
        "tru", "nul", "\"abc", "\"a\u{01}b\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "{} {}", "[1 2]", "{\"a\" 1}",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test(arguments: [
        [0xFF], [0xC3], [0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x61, 0xC3],
        // invalid bytes before, between and after escapes (each run is checked on its own)
        [0xFF, 0x5C, 0x6E], [0x5C, 0x6E, 0xFF], [0x5C, 0x6E, 0xC3, 0x5C, 0x6E], [0xC3, 0xA9, 0x5C, 0x6E, 0x80],
    ] as [[UInt8]])
    func rejectsInvalidUTF8(_ content: [UInt8]) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22] + content + [0x22]) }
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x7B, 0x22] + content + Array(#"":1}"#.utf8)) }
    }

    @Test func asciiAndNonASCIIRunsAroundEscapes() throws {
        let root = try JSONParser.parse(Array(#"["plain", "é\n", "\nü", "a\tb€c", "", "\u0041"]"#.utf8))
        #expect(root.arrayValue?.map(\.stringValue) == ["plain", "é\n", "\nü", "a\tb€c", "", "A"])
    }

    @Test func capsNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(deep.utf8)) }
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try JSONParser.parse(Array(ok.utf8)) }
    }
}
