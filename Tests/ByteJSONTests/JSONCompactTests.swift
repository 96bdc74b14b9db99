import Testing
@testable import ByteJSON

@Suite struct JSONCompactTests {
    /// The start of an Accounting API answer as Xero sends it: indented, CRLF, escaped slashes.
    static let xeroAnswer = "{\r\n  \"Id\": \"23bc5e03-5b4c-4f53-9c5c-2b4a1f2f3a10\",\r\n  \"Status\": \"OK\",\r\n"
        + "  \"ProviderName\": \"My \\\"Sync\\\" App\",\r\n  \"DateTimeUTC\": \"\\/Date(1774827325961)\\/\",\r\n"
        + "  \"Invoices\": [\r\n    {\r\n      \"Reference\": \"a b\\tc\\r\\n\\\\\",\r\n      \"SubTotal\": 50000.00,\r\n"
        + "      \"LineItems\": [],\r\n      \"HasErrors\": false,\r\n      \"Contact\": null\r\n    }\r\n  ]\r\n}"

    @Test func removesXerosIndentationAndLineBreaksAndKeepsEveryValueByteForByte() {
        let compact = String(decoding: JSONText.compacted(Array(Self.xeroAnswer.utf8)), as: UTF8.self)
        #expect(compact == #"{"Id":"23bc5e03-5b4c-4f53-9c5c-2b4a1f2f3a10","Status":"OK","ProviderName":"My \"Sync\" App","#
            + #""DateTimeUTC":"\/Date(1774827325961)\/","Invoices":[{"Reference":"a b\tc\r\n\\","SubTotal":50000.00,"#
            + #""LineItems":[],"HasErrors":false,"Contact":null}]}"#)
    }

    @Test func keepsWhitespaceInsideStringsAndAfterEscapedQuotesAndBackslashes() {
        // `"\\"` ends the string: the space after it is insignificant; `"\" "` does not end it.
        let text = #"[ "a \\" , "b \" c" , "  " ]"#
        #expect(JSONText.compacted(Array(text.utf8)) == Array(#"["a \\","b \" c","  "]"#.utf8))
    }

    @Test func appendsToWhatIsAlreadyThere() {
        var out = Array("x=".utf8)
        JSONText.appendCompacted(Array(" { \"a\" :\n1 } ".utf8)[...], to: &out)
        #expect(out == Array(#"x={"a":1}"#.utf8))
    }

    /// Random documents written once without whitespace and once with random whitespace
    /// between every token: compacting the second gives the first, which still parses.
    @Test func compactingAnyIndentationGivesTheCompactDocument() throws {
        var random = SplitMix(seed: 0x5EED)
        for _ in 0..<500 {
            var compact: [String] = []
            var spaced: [String] = []
            Self.document(depth: 0, random: &random, into: &compact, spaced: &spaced)
            let expected = Array(compact.joined().utf8)
            let input = Array(spaced.joined().utf8)
            _ = try JSONParser.parse(input)
            let output = JSONText.compacted(input)
            #expect(output == expected)
            #expect(!output.contains(0x0A) && !output.contains(0x0D))
            _ = try JSONParser.parse(output)
        }
    }

    private static let whitespace = ["", " ", "\r\n", "\n", "\t", "  ", "\r\n    "]
    private static let scalars = [#""plain""#, #""with space""#, #""\/Date(1419937200000+0000)\/""#, #""q\"uote""#,
                                  #""back\\""#, #""\u00e9 é""#, "50000.00", "-0.5e+3", "0", "true", "false", "null", #""""#]

    private static func token(_ text: String, random: inout SplitMix, into compact: inout [String], spaced: inout [String]) {
        compact.append(text)
        spaced.append(whitespace[random.next(whitespace.count)] + text + whitespace[random.next(whitespace.count)])
    }

    private static func document(depth: Int, random: inout SplitMix, into compact: inout [String], spaced: inout [String]) {
        switch depth < 4 ? random.next(3) : 2 {
        case 0:
            token("{", random: &random, into: &compact, spaced: &spaced)
            for index in 0..<random.next(4) {
                if index > 0 { token(",", random: &random, into: &compact, spaced: &spaced) }
                token(#""Key \#(index)""#, random: &random, into: &compact, spaced: &spaced)
                token(":", random: &random, into: &compact, spaced: &spaced)
                document(depth: depth + 1, random: &random, into: &compact, spaced: &spaced)
            }
            token("}", random: &random, into: &compact, spaced: &spaced)
        case 1:
            token("[", random: &random, into: &compact, spaced: &spaced)
            for index in 0..<random.next(4) {
                if index > 0 { token(",", random: &random, into: &compact, spaced: &spaced) }
                document(depth: depth + 1, random: &random, into: &compact, spaced: &spaced)
            }
            token("]", random: &random, into: &compact, spaced: &spaced)
        default:
            token(scalars[random.next(scalars.count)], random: &random, into: &compact, spaced: &spaced)
        }
    }
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
