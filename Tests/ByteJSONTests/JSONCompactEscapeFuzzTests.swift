import Testing
@testable import ByteJSON

@Suite struct JSONCompactEscapeFuzzTests {
    /// Strings built from escape runs (`\\`, `\"`, `\/`, `\r\n` escapes, `\u0022`, raw U+2028,
    /// spaces) between random CRLF indentation: compacting gives the document written without
    /// the indentation, and every string value is unchanged.
    @Test func escapeRunsSurviveCompaction() throws {
        var random = SplitMix(seed: 0xE5CA9E)
        let pieces = [#"\\"#, #"\""#, #"\/"#, #"\r\n"#, #"\u0022"#, "\u{2028}", " ", "  ", #"\t"#, "é", "a", #"\\\""#, #"\\\\"#]
        let ws = ["", " ", "\r\n", "\r\n    ", "\t", "\n"]
        for _ in 0..<2000 {
            var compact = "[", spaced = "[" + ws[random.next(ws.count)]
            let count = random.next(5)
            for i in 0..<count {
                var s = "\""
                for _ in 0..<random.next(8) { s += pieces[random.next(pieces.count)] }
                s += "\""
                let member = "{" + s + ":" + s + "}"
                let spacedMember = "{" + ws[random.next(ws.count)] + s + ws[random.next(ws.count)] + ":" + ws[random.next(ws.count)] + s + ws[random.next(ws.count)] + "}"
                if i > 0 { compact += ","; spaced += ws[random.next(ws.count)] + "," + ws[random.next(ws.count)] }
                compact += member
                spaced += spacedMember
            }
            compact += "]"; spaced += ws[random.next(ws.count)] + "]"
            let input = Array(spaced.utf8)
            _ = try JSONParser.parse(input)
            let output = JSONText.compacted(input)
            #expect(output == Array(compact.utf8), "\(spaced.debugDescription)")
        }
    }
}
