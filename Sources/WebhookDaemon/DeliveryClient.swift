import Dispatch
import Foundation
import HTTPServer
#if canImport(Glibc)
import Glibc
#endif

/// Where `selftest` and `send` post: an http(s) URL split into what a connection needs.
struct DeliveryTarget: Equatable {
    var https: Bool
    /// Without IPv6 brackets, as the resolver and certificate check want it.
    var host: String
    var port: UInt16
    /// The Host header: as written in the URL (brackets, and the port when one was given).
    var authority: String
    /// Path and query, percent-encoded as in the URL; `/` when empty.
    var target: String

    /// Nil unless `text` is an absolute http or https URL with a host.
    init?(_ text: String) {
        // The encoded host: an internationalised name in its ASCII (punycode) form, the one DNS
        // and the certificate know.
        guard let parts = URLComponents(string: text), let scheme = parts.scheme?.lowercased(),
              scheme == "http" || scheme == "https", var host = parts.encodedHost, !host.isEmpty,
              parts.user == nil, parts.password == nil else { return nil }
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

/// Posts one delivery per connection (`Connection: close`), the way Xero does: no redirects
/// followed, no cookies kept, TLS verified against the system's CAs or `caFile`.
struct DeliveryClient {
    var caFile: String?
    var timeoutSeconds = 10

    struct Answer {
        var status: Int
        var bodyLength: Int
        var setsCookie: Bool
        var seconds: Double
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func post(_ target: DeliveryTarget, body: [UInt8], signature: String?) -> Result<Answer, Failure> {
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
            var received: [UInt8] = []
            while true {
                let chunk: [UInt8]
                do {
                    chunk = try connection.read()
                } catch where error.timedOut {
                    return .failure(Failure(description: "no complete answer within \(timeoutSeconds) s (\(received.count) bytes so far)"))
                }
                received += chunk
                switch HTTPAnswer.parse(received, atEnd: chunk.isEmpty) {
                case .needMore:
                    if chunk.isEmpty { return .failure(Failure(description: "the connection closed before the answer was complete")) }
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
/// Interim 1xx answers before it are skipped.
struct HTTPAnswer: Equatable {
    var status: Int
    var headers: [Field]
    var bodyLength: Int

    struct Field: Equatable {
        var name: String
        var value: String
    }

    enum Parse: Equatable {
        case needMore
        case invalid(String)
        case complete(HTTPAnswer)
    }

    static let maxHeadBytes = 65_536
    static let maxBodyBytes = 8 << 20

    /// `atEnd`: the peer closed; a body without length then ends here.
    static func parse(_ bytes: [UInt8], atEnd: Bool) -> Parse {
        var start = 0
        while true {
            guard let headEnd = find([13, 10, 13, 10], in: bytes, from: start) else {
                return bytes.count - start > maxHeadBytes ? .invalid("head over \(maxHeadBytes) bytes") : .needMore
            }
            guard headEnd - start <= maxHeadBytes else { return .invalid("head over \(maxHeadBytes) bytes") }
            let lines = String(decoding: bytes[start..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let statusLine = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1" || statusLine[0] == "HTTP/1.0",
                  statusLine[1].count == 3, let status = Int(statusLine[1]), (100...599).contains(status) else {
                return .invalid("status line \(lines[0].debugDescription)")
            }
            var fields: [Field] = []
            for line in lines.dropFirst() {
                // A field name is a token: no whitespace before the colon (RFC 9112 §5.1).
                guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                      line[..<colon].allSatisfy(isTokenCharacter) else {
                    return .invalid("header line \(line.debugDescription)")
                }
                fields.append(Field(name: String(line[..<colon]),
                                    value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            let bodyStart = headEnd + 4
            if (100..<200).contains(status) && status != 101 {
                start = bodyStart
                continue
            }
            func values(_ name: String) -> [String] {
                fields.filter { $0.name.lowercased() == name }.map(\.value)
            }
            if status == 204 || status == 304 {
                return .complete(HTTPAnswer(status: status, headers: fields, bodyLength: 0))
            }
            let codings = values("transfer-encoding").joined(separator: ",").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if codings.last == "chunked" {
                return chunked(bytes, from: bodyStart).map { HTTPAnswer(status: status, headers: fields, bodyLength: $0) }
            }
            // Transfer-Encoding without chunked last: the body ends with the connection, whatever
            // Content-Length says (RFC 9112 §6.3, item 4).
            let lengths = codings.isEmpty ? Set(values("content-length")) : []
            if let text = lengths.first {
                guard lengths.count == 1, !text.isEmpty, text.count <= 18, text.allSatisfy(\.isASCIIDigit), let length = Int(text) else {
                    return .invalid("Content-Length \(lengths.sorted())")
                }
                guard length <= maxBodyBytes else { return .invalid("body of \(length) bytes") }
                return bytes.count - bodyStart >= length ? .complete(HTTPAnswer(status: status, headers: fields, bodyLength: length)) : .needMore
            }
            guard bytes.count - bodyStart <= maxBodyBytes else { return .invalid("body over \(maxBodyBytes) bytes") }
            return atEnd ? .complete(HTTPAnswer(status: status, headers: fields, bodyLength: bytes.count - bodyStart)) : .needMore
        }
    }

    /// The decoded length of a chunked body starting at `from`, once its last chunk and trailer
    /// section have arrived.
    private static func chunked(_ bytes: [UInt8], from: Int) -> ChunkedLength {
        var position = from
        var total = 0
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: position) else { return .needMore }
            let line = String(decoding: bytes[position..<lineEnd], as: UTF8.self)
            let sizeText = line.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: .whitespaces)
            guard !sizeText.isEmpty, sizeText.count <= 8, sizeText.allSatisfy(\.isHexDigit), sizeText.allSatisfy(\.isASCII),
                  let size = Int(sizeText, radix: 16) else {
                return .invalid("chunk size \(line.debugDescription)")
            }
            position = lineEnd + 2
            if size == 0 {
                // Trailer fields, then an empty line.
                while true {
                    guard let end = find([13, 10], in: bytes, from: position) else { return .needMore }
                    if end == position { return .length(total) }
                    position = end + 2
                }
            }
            total += size
            guard total <= maxBodyBytes else { return .invalid("body over \(maxBodyBytes) bytes") }
            guard bytes.count >= position + size + 2 else { return .needMore }
            guard bytes[position + size] == 13, bytes[position + size + 1] == 10 else { return .invalid("chunk not ended by CRLF") }
            position += size + 2
        }
    }

    private enum ChunkedLength {
        case needMore, invalid(String), length(Int)

        func map(_ answer: (Int) -> HTTPAnswer) -> Parse {
            switch self {
            case .needMore: .needMore
            case let .invalid(reason): .invalid(reason)
            case let .length(length): .complete(answer(length))
            }
        }
    }

    /// tchar (RFC 9110 §5.6.2).
    private static func isTokenCharacter(_ c: Character) -> Bool {
        guard let ascii = c.asciiValue else { return false }
        return ascii.isASCIIAlphanumeric || "!#$%&'*+-.^_`|~".utf8.contains(ascii)
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0] && Array(bytes[index..<index + needle.count]) == needle { return index }
            index += 1
        }
        return nil
    }
}

private extension Character {
    var isASCIIDigit: Bool { asciiValue.map { (48...57).contains($0) } ?? false }
}

private extension UInt8 {
    var isASCIIAlphanumeric: Bool { (48...57).contains(self) || (65...90).contains(self) || (97...122).contains(self) }
}
