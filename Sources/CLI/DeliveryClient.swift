import ArgumentParser
import DaemonConfig
import DaemonRuntime
import Dispatch
import Foundation
import HTTPServer
import OpenSSLSupport
#if canImport(Glibc)
import Glibc
#endif

/// Where `selftest` and `send` post: an http(s) URL split into what a connection needs.
package struct DeliveryTarget: Equatable {
    package var https: Bool
    /// Without IPv6 brackets, as the resolver and certificate check want it.
    package var host: String
    package var port: UInt16
    /// The Host header: as written in the URL (brackets, and the port when one was given).
    package var authority: String
    /// Path and query, percent-encoded as in the URL; `/` when empty.
    package var target: String

    /// Nil unless `text` is an absolute http or https URL with a host.
    package init?(_ text: String) {
        // The encoded host: an internationalised name in its ASCII (punycode) form, the one DNS
        // and the certificate know.
        guard let parts = URLComponents(string: text), let scheme = parts.scheme?.lowercased(),
              scheme == "http" || scheme == "https", var host = parts.encodedHost, !host.isEmpty,
              parts.user == nil, parts.password == nil else { return nil }
        // A percent-encoded name (`b%C3%BCcher.example`) is not one a resolver takes.
        guard !host.contains("%") || host.hasPrefix("[") else { return nil }
        if host.hasPrefix("[") {
            // Brackets hold an IPv6 address and nothing else (RFC 3986 §3.2.2).
            host = String(host.dropFirst().dropLast())
            var address = in6_addr()
            guard inet_pton(AF_INET6, host, &address) == 1 else { return nil }
        }
        https = scheme == "https"
        self.host = host
        if let explicit = parts.port {
            guard (1...65_535).contains(explicit) else { return nil }
            port = UInt16(explicit)
        } else {
            port = https ? 443 : 80
        }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        authority = parts.port == nil ? shownHost : "\(shownHost):\(port)"
        let path = parts.percentEncodedPath.isEmpty ? "/" : parts.percentEncodedPath
        target = path + (parts.percentEncodedQuery.map { "?" + $0 } ?? "")
    }
}

extension DeliveryTarget {
    /// The target of `command`'s URL argument; one that is not an http(s) URL is printed and
    /// ends the command.
    package static func required(_ url: String, command: String) throws -> DeliveryTarget {
        guard let target = DeliveryTarget(url) else {
            throw failure("\(command): \(url) is not an http(s) URL", exit: .validationFailure)
        }
        return target
    }
}

/// Posts one delivery per connection (`Connection: close`), the way Xero does: no redirects
/// followed, no cookies kept, TLS verified against the system's CAs or `caFile`.
package struct DeliveryClient {
    package var caFile: String?
    package var timeoutSeconds = 10

    package init(caFile: String? = nil, timeoutSeconds: Int = 10) {
        self.caFile = caFile
        self.timeoutSeconds = timeoutSeconds
    }

    package struct Answer {
        package var status: Int
        package var bodyLength: Int
        package var setsCookie: Bool
        package var seconds: Double
    }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    package func post(_ target: DeliveryTarget, body: [UInt8], signature: String?) -> Result<Answer, Failure> {
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let connection = try OutboundConnection(host: target.host, port: target.port, tls: target.https,
                                                    caFile: caFile, timeoutSeconds: timeoutSeconds)
            var head = "POST \(target.target) HTTP/1.1\r\nHost: \(target.authority)\r\n"
                + "User-Agent: xero-webhookd\r\nContent-Type: application/json; charset=utf-8\r\n"
                + "Content-Length: \(body.count)\r\n"
            if let signature { head += "x-xero-signature: \(signature)\r\n" }
            head += "Connection: close\r\n\r\n"
            try connection.write(Array(head.utf8) + body)
            // The connection ends every step within the timeout of its start, so a server that
            // trickles its handshake or its answer cannot keep the check going for ever.
            var reader = HTTPAnswerReader()
            var received = 0
            while true {
                let chunk: [UInt8]
                do {
                    chunk = try connection.read()
                } catch where error.timedOut {
                    return .failure(Failure(description: "no complete answer within \(timeoutSeconds) s (\(received) bytes so far)"))
                }
                received += chunk.count
                switch reader.feed(chunk, atEnd: chunk.isEmpty) {
                case .needMore:
                    if chunk.isEmpty { return .failure(Failure(description: "the connection closed before the answer was complete")) }
                    // A server that never stops sending is given up on at the deadline too, not
                    // only one that stops (a complete answer that came in time still counts).
                    if connection.deadlinePassed {
                        return .failure(Failure(description: "no complete answer within \(timeoutSeconds) s (\(received) bytes so far)"))
                    }
                case let .invalid(reason):
                    return .failure(Failure(description: "not an HTTP/1.1 answer: \(reason)"))
                case let .complete(answer):
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                    let cookie = answer.headers.contains { $0.name.lowercased() == "set-cookie" }
                    return .success(Answer(status: answer.status, bodyLength: answer.bodyLength, setsCookie: cookie, seconds: seconds))
                }
            }
        } catch {
            return .failure(Failure(description: error.description))
        }
    }
}

/// One HTTP/1.1 answer read from the start of a byte stream: the status line, the header fields
/// and a body framed by chunked coding, Content-Length, or the end of the stream (RFC 9112 §6.3).
/// Interim 1xx answers before it are skipped (at most `maxInterimAnswers`).
package struct HTTPAnswer: Equatable {
    package var status: Int
    package var headers: [Field]
    package var bodyLength: Int

    package struct Field: Equatable {
        package var name: String
        package var value: String
    }

    package enum Parse: Equatable {
        case needMore
        case invalid(String)
        case complete(HTTPAnswer)
    }

    package static let maxHeadBytes = 65_536
    package static let maxBodyBytes = 8 << 20
    package static let maxInterimAnswers = 16
    package static let maxAnswerBytes = maxHeadBytes + 2 * maxBodyBytes
    /// A chunk-size line with its extensions, and the whole trailer section.
    package static let maxChunkLineBytes = 4_096
    package static let maxTrailerBytes = 65_536

    /// The answer at the start of `bytes`; `atEnd`: the peer closed (a body without length then
    /// ends here).
    package static func parse(_ bytes: [UInt8], atEnd: Bool) -> Parse {
        var reader = HTTPAnswerReader()
        return reader.feed(bytes, atEnd: atEnd)
    }
}

/// Reads an answer as its bytes arrive, each byte examined about once however the stream is cut
/// (a server that sends a million tiny chunks or interim answers costs linear time, not
/// quadratic), and never holding more than a head and `HTTPAnswer.maxBodyBytes` of body.
package struct HTTPAnswerReader {
    private var bytes: [UInt8] = []
    /// Where the current head starts (after any interim answers).
    private var headStart = 0
    /// Where the search for the end of the head goes on.
    private var scanned = 0
    private var interimAnswers = 0
    private var head: Head?
    /// Chunked framing: the start of the next chunk-size line (or trailer line), and the body's
    /// decoded length so far.
    private var chunkPosition = 0
    private var chunkTotal = 0
    private var inTrailer = false
    /// Where the trailer section starts (it is bounded as a whole).
    private var trailerStart = 0
    /// Bytes looked at while searching for line ends, over the whole answer: about the answer's
    /// size, however it was cut into pieces (tests hold the reader to that).
    private(set) var examinedBytes = 0

    private struct Head {
        package var status: Int
        package var fields: [HTTPAnswer.Field]
        package var bodyStart: Int
        package var framing: Framing
    }

    private enum Framing {
        case none, length(Int), chunked, toClose
    }

    /// Adds `chunk` (empty and `atEnd` when the peer closed) and says whether the answer is whole.
    package mutating func feed(_ chunk: [UInt8], atEnd: Bool) -> HTTPAnswer.Parse {
        bytes += chunk
        // Framing can cost more than the body (a chunk-size line per byte): the bytes held are
        // bounded too, not only the body they decode to.
        guard bytes.count <= HTTPAnswer.maxAnswerBytes else { return .invalid("answer over \(HTTPAnswer.maxAnswerBytes) bytes") }
        while true {
            if head == nil {
                switch readHead() {
                case .needMore: return .needMore
                case let .invalid(reason): return .invalid(reason)
                case .complete: break
                }
            }
            guard let head else { return .needMore }
            let answer = { (length: Int) in HTTPAnswer(status: head.status, headers: head.fields, bodyLength: length) }
            switch head.framing {
            case .none:
                return .complete(answer(0))
            case let .length(length):
                return bytes.count - head.bodyStart >= length ? .complete(answer(length)) : .needMore
            case .toClose:
                guard bytes.count - head.bodyStart <= HTTPAnswer.maxBodyBytes else { return .invalid("body over \(HTTPAnswer.maxBodyBytes) bytes") }
                return atEnd ? .complete(answer(bytes.count - head.bodyStart)) : .needMore
            case .chunked:
                return readChunks()
            }
        }
    }

    private enum Step {
        case needMore, invalid(String), complete
    }

    /// Finds and reads the next head; an interim answer moves on to the one after it.
    private mutating func readHead() -> Step {
        while true {
            guard let headEnd = find([13, 10, 13, 10], from: max(headStart, scanned - 3)) else {
                scanned = bytes.count
                return bytes.count - headStart > HTTPAnswer.maxHeadBytes ? .invalid("head over \(HTTPAnswer.maxHeadBytes) bytes") : .needMore
            }
            guard headEnd - headStart <= HTTPAnswer.maxHeadBytes else { return .invalid("head over \(HTTPAnswer.maxHeadBytes) bytes") }
            let lines = String(decoding: bytes[headStart..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let statusLine = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1" || statusLine[0] == "HTTP/1.0",
                  statusLine[1].count == 3, statusLine[1].allSatisfy(\.isASCIIDigit), let status = Int(statusLine[1]),
                  (100...599).contains(status) else {
                return .invalid("status line \(lines[0].debugDescription)")
            }
            var fields: [HTTPAnswer.Field] = []
            for line in lines.dropFirst() {
                // A field name is a token: no whitespace before the colon (RFC 9112 §5.1); a
                // value holds no control characters (RFC 9110 §5.5). The server's own rules.
                guard let colon = line.firstIndex(of: ":"), HTTPSyntax.isToken(line[..<colon].utf8),
                      line.utf8.allSatisfy(HTTPSyntax.isFieldValueByte) else {
                    return .invalid("header line \(line.debugDescription)")
                }
                fields.append(HTTPAnswer.Field(name: String(line[..<colon]),
                                               value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            let bodyStart = headEnd + 4
            if status == 101 {
                return .invalid("101 Switching Protocols to a request that asked for no upgrade")
            }
            if (100..<200).contains(status) {
                interimAnswers += 1
                guard interimAnswers <= HTTPAnswer.maxInterimAnswers else {
                    return .invalid("more than \(HTTPAnswer.maxInterimAnswers) interim (1xx) answers")
                }
                // Nothing before the final answer is needed again.
                bytes.removeFirst(bodyStart)
                headStart = 0
                scanned = 0
                continue
            }
            func values(_ name: String) -> [String] {
                fields.filter { $0.name.lowercased() == name }.map(\.value)
            }
            let framing: Framing
            let codings = values("transfer-encoding").joined(separator: ",").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if status == 204 || status == 304 {
                framing = .none
            } else if !codings.isEmpty && statusLine[0] == "HTTP/1.0" {
                // Transfer codings are HTTP/1.1 (RFC 9112 §6.1): a 1.0 answer with one is faulty framing.
                return .invalid("Transfer-Encoding in an HTTP/1.0 answer")
            } else if codings.last == "chunked" {
                framing = .chunked
                chunkPosition = bodyStart
            } else if !codings.isEmpty {
                // Transfer-Encoding without chunked last: the body ends with the connection,
                // whatever Content-Length says (RFC 9112 §6.3, item 4).
                framing = .toClose
            } else if case let lengths = Set(values("content-length")), let text = lengths.first {
                guard lengths.count == 1, !text.isEmpty, text.count <= 18, text.allSatisfy(\.isASCIIDigit), let length = Int(text) else {
                    return .invalid("Content-Length \(lengths.sorted())")
                }
                guard length <= HTTPAnswer.maxBodyBytes else { return .invalid("body of \(length) bytes") }
                framing = .length(length)
            } else {
                framing = .toClose
            }
            head = Head(status: status, fields: fields, bodyStart: bodyStart, framing: framing)
            return .complete
        }
    }

    /// Goes on through the chunks from where the last call stopped.
    private mutating func readChunks() -> HTTPAnswer.Parse {
        guard let head else { return .needMore }
        while true {
            let limit = inTrailer ? HTTPAnswer.maxTrailerBytes - (chunkPosition - trailerStart) : HTTPAnswer.maxChunkLineBytes
            guard let lineEnd = find([13, 10], from: chunkPosition, within: max(limit, 0)) else {
                if bytes.count - chunkPosition > limit {
                    return .invalid(inTrailer ? "trailer section over \(HTTPAnswer.maxTrailerBytes) bytes" : "chunk-size line over \(HTTPAnswer.maxChunkLineBytes) bytes")
                }
                return .needMore
            }
            if inTrailer {
                if lineEnd == chunkPosition {
                    return .complete(HTTPAnswer(status: head.status, headers: head.fields, bodyLength: chunkTotal))
                }
                chunkPosition = lineEnd + 2
                continue
            }
            let line = bytes[chunkPosition..<lineEnd]
            guard let size = Self.chunkSize(line) else {
                return .invalid("chunk size \(String(decoding: line, as: UTF8.self).debugDescription)")
            }
            if size == 0 {
                inTrailer = true
                trailerStart = lineEnd + 2
                chunkPosition = lineEnd + 2
                continue
            }
            guard chunkTotal + size <= HTTPAnswer.maxBodyBytes else { return .invalid("body over \(HTTPAnswer.maxBodyBytes) bytes") }
            let dataStart = lineEnd + 2
            guard bytes.count >= dataStart + size + 2 else { return .needMore }
            guard bytes[dataStart + size] == 13, bytes[dataStart + size + 1] == 10 else { return .invalid("chunk not ended by CRLF") }
            chunkTotal += size
            chunkPosition = dataStart + size + 2
        }
    }

    /// chunk-size [ BWS ";" extensions ] (RFC 9112 §7.1): hex digits only (leading zeros allowed,
    /// at most 8 significant ones), whitespace only before an extension.
    private static func chunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        let semicolon = line.firstIndex(of: UInt8(ascii: ";"))
        var digits = line[line.startIndex..<(semicolon ?? line.endIndex)]
        if semicolon != nil {
            while let last = digits.last, last == 32 || last == 9 { digits = digits.dropLast() }
        }
        guard !digits.isEmpty, digits.allSatisfy({ HTTPSyntax.hexValue($0) != nil }) else { return nil }
        let significant = digits.drop { $0 == UInt8(ascii: "0") }
        guard significant.count <= 8 else { return nil }
        return significant.reduce(0) { $0 << 4 | Int(HTTPSyntax.hexValue($1)!) }
    }

    /// The first `needle` at or after `from`, starting within `within` bytes of it.
    private mutating func find(_ needle: [UInt8], from: Int, within: Int = .max) -> Int? {
        let start = max(from, 0)
        let stop = min(bytes.count - needle.count, within == .max ? .max : start + within)
        var index = start
        defer { examinedBytes += index - start }
        while index <= stop {
            if bytes[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

private extension Character {
    package var isASCIIDigit: Bool { asciiValue.map { (48...57).contains($0) } ?? false }
}

