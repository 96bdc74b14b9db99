@testable import HTTPServer
import Testing

/// The bytes of `text`; requests are written as literals with explicit `\r\n`.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Everything a parser produced for some input, up to and including its error.
struct Outcome: Equatable {
    var events: [RequestParser.Event] = []
    var error: HTTPParseError?

    var requests: [HTTPRequest] {
        events.compactMap { if case .request(let request) = $0 { request } else { nil } }
    }

    var heads: [HTTPRequestHead] {
        events.compactMap { if case .head(let head) = $0 { head } else { nil } }
    }
}

/// Appends each piece in turn and drains `next()` after each, as the server does.
func parse(_ pieces: [[UInt8]], limits: HTTPLimits = .init()) -> Outcome {
    var parser = RequestParser(limits: limits)
    var outcome = Outcome()
    for piece in pieces {
        parser.append(piece)
        do {
            while let event = try parser.next() { outcome.events.append(event) }
        } catch {
            outcome.error = error
            return outcome
        }
    }
    return outcome
}

func parse(_ text: String, limits: HTTPLimits = .init()) -> Outcome {
    parse([bytes(text)], limits: limits)
}

func parseByteByByte(_ input: [UInt8], limits: HTTPLimits = .init()) -> Outcome {
    parse(input.map { [$0] }, limits: limits)
}

/// The input split into two appends at `index`.
func split(_ input: [UInt8], at index: Int) -> [[UInt8]] {
    [Array(input[..<index]), Array(input[index...])]
}

/// A request the parser must refuse with `status`.
struct Rejection: Sendable, CustomTestStringConvertible {
    var label: String
    var request: String
    var status: Int

    init(_ label: String, _ request: String, _ status: Int) {
        self.label = label
        self.request = request
        self.status = status
    }

    var testDescription: String { "\(label) → \(status)" }
}

/// Checks that `rejection` fails with its status and never yields a `.request`, for the whole
/// input, for one byte at a time and for every split into two appends (always the same error);
/// and that the error is sticky.
func expectRejected(
    _ rejection: Rejection, limits: HTTPLimits = .init(),
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let input = bytes(rejection.request)
    let whole = parse([input], limits: limits)
    #expect(whole.error?.status == rejection.status, "\(whole.error.map(\.description) ?? "no error")",
            sourceLocation: sourceLocation)
    #expect(whole.requests.isEmpty, sourceLocation: sourceLocation)

    let bytewise = parseByteByByte(input, limits: limits)
    #expect(bytewise.error == whole.error, sourceLocation: sourceLocation)
    #expect(bytewise.requests.isEmpty, sourceLocation: sourceLocation)
    for index in 0...input.count {
        let twoPieces = parse(split(input, at: index), limits: limits)
        #expect(twoPieces.error == whole.error, "split at \(index)", sourceLocation: sourceLocation)
        #expect(twoPieces.requests.isEmpty, sourceLocation: sourceLocation)
    }

    // Sticky: more bytes, even a valid request, change nothing.
    var parser = RequestParser(limits: limits)
    parser.append(input)
    var first: HTTPParseError?
    do {
        while try parser.next() != nil {}
    } catch {
        first = error
    }
    let error = try #require(first, sourceLocation: sourceLocation)
    parser.append(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
    #expect(parser.bufferedBytes == 0, sourceLocation: sourceLocation)
    #expect(!parser.hasPartialRequest && !parser.isReadingBody, sourceLocation: sourceLocation)
    #expect(throws: error, sourceLocation: sourceLocation) { try parser.next() }
    #expect(throws: error, sourceLocation: sourceLocation) { try parser.next() }
}

/// A POST with a chunked body `chunked` (everything after the head).
func chunkedRequest(_ chunked: String) -> String {
    "POST /hook HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
}

/// A GET with the given extra header lines (each without CRLF).
func request(_ fields: String..., version: String = "HTTP/1.1", target: String = "/") -> String {
    "GET \(target) \(version)\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n"
}
