@testable import HTTPServer
import Testing

// Linear cost however the input is split: the line scan never looks at a byte twice, the
// buffer is compacted as bytes are consumed, and body bytes are moved out of it.

@Suite struct RequestParserCostTests {
    @Test func eachByteIsScannedOnceWhenFedOneAtATime() throws {
        let fields = (1...60).map { "X-Field-\($0): " + String(repeating: "v", count: 200) + "\r\n" }.joined()
        let chunks = String(repeating: "3;e=1\r\nabc\r\n", count: 40)
        let input = bytes("POST /hook HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n" + fields + "\r\n"
            + chunks + "0\r\nT: 1\r\n\r\n")
        var parser = RequestParser()
        var requests = 0
        for byte in input {
            parser.append([byte])
            while let event = try parser.next() {
                if case .request(let request) = event {
                    requests += 1
                    #expect(request.body.count == 120)
                }
            }
            // Consumed lines and body bytes do not pile up.
            #expect(parser.buffer.count <= 2 * 300)
        }
        #expect(requests == 1)
        // A rescan per appended byte would be quadratic: millions here instead of ~13 000.
        #expect(parser.scannedByteCount <= input.count)
    }

    @Test func bodyBytesFedOneAtATimeLeaveTheBufferEmpty() throws {
        let body = (0..<20_000).map { UInt8(truncatingIfNeeded: $0) }
        var parser = RequestParser()
        parser.append(bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 20000\r\n\r\n"))
        #expect(try parser.next() != nil)
        var received: HTTPRequest?
        for byte in body {
            parser.append([byte])
            if case .request(let request) = try parser.next() { received = request }
            #expect(parser.buffer.count <= 1)
        }
        #expect(received?.body == body)
    }

    @Test func pipelinedRequestsDoNotGrowTheBuffer() throws {
        let one = bytes("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        let input = Array((0..<500).map { _ in one }.joined())
        var parser = RequestParser()
        var completed = 0
        var offset = 0
        while offset < input.count {
            let end = min(offset + 97, input.count)
            parser.append(Array(input[offset..<end]))
            offset = end
            while let event = try parser.next() {
                if case .request(let request) = event {
                    completed += 1
                    #expect(request.body == bytes("hello"))
                }
            }
            #expect(parser.buffer.count <= 2 * (one.count + 97))
        }
        #expect(completed == 500)
        #expect(parser.scannedByteCount <= input.count)
        #expect(parser.bufferedBytes == 0 && !parser.hasPartialRequest)
    }

    @Test func aFloodWithoutLineEndsIsScannedOnlyUpToTheLimit() throws {
        var parser = RequestParser()
        parser.append(bytes("GET /" + String(repeating: "a", count: 1_000_000)))
        #expect(throws: HTTPParseError.uriTooLong) { try parser.next() }
        #expect(parser.scannedByteCount <= HTTPLimits().maxRequestLineBytes + 1)
    }
}
