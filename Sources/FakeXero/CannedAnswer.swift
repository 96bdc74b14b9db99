import Foundation
import HTTPServer

/// One answer the fake sends verbatim in place of what it would have computed: a captured Xero
/// response (status, headers, body), e.g. a fixture under `Tests/Fixtures/xero-answers/`.
package struct CannedAnswer: Sendable, Equatable {
    package var status: Int
    /// Header lines as captured; `content-length` is left out (the server sets it).
    package var headers: [Header]
    package var body: [UInt8]

    package struct Header: Sendable, Equatable {
        package var name: String
        package var value: String

        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    package struct Malformed: Error, Equatable, CustomStringConvertible {
        package let description: String
    }

    package init(status: Int, headers: [Header] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Reads a raw HTTP/1.1 response: status line, header lines, an empty line, the body (all
    /// bytes after the empty line, exactly). Header lines end in CRLF.
    package init(rawHTTP bytes: [UInt8]) throws(Malformed) {
        let separator: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else {
            throw Malformed(description: "no CRLF CRLF after the header block")
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = head[0].split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw Malformed(description: "status line \(head[0]) is not HTTP/1.1 NNN")
        }
        var headers: [Header] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw Malformed(description: "header line \(line) has no colon") }
            let name = String(line[..<colon])
            guard name.lowercased() != "content-length" else { continue }
            headers.append(Header(name: name, value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        self.init(status: status, headers: headers, body: Array(bytes[(end + 4)...]))
    }

    /// The value of the first header named `name` (case-insensitive).
    package func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var response: HTTPResponse {
        HTTPResponse(status: status, headers: headers.map { (name: $0.name, value: $0.value) }, body: body)
    }
}
