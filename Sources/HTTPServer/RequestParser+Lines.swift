// Line scanning and field lines, shared by the header and trailer sections.
//
// RFC 9112 §2.2: lines end with CRLF. A bare LF "MAY" be accepted as a line terminator; this
// parser rejects it (400) so that it never reads a line boundary where a front proxy does not.
// A bare CR "MUST" be rejected or replaced by SP; it is rejected (400).

extension RequestParser {
    private enum LineScan {
        case found(crIndex: Int)
        case needMoreBytes
        case bareCR
        case bareLF
    }

    /// Finds the CRLF that ends the line starting at `readIndex`, resuming the search at
    /// `scanIndex` so that no byte is examined twice (except a CR still waiting for its LF).
    /// The search stops one byte past `maxLength`, so a flood without line ends costs no more
    /// than the limit.
    ///
    /// - Returns: the index of the CR, or nil when the line is not complete yet.
    /// - Throws: `tooLong` as soon as the line holds more than `maxLength` bytes before its CRLF,
    ///   complete or not; 400 for a bare CR or bare LF.
    mutating func findLineEnd(
        maxLength: Int, tooLong: HTTPParseError
    ) throws(HTTPParseError) -> Int? {
        let from = scanIndex
        let lineStart = readIndex
        let (scan, stop) = buffer.withUnsafeBufferPointer { bytes -> (LineScan, Int) in
            let end = maxLength >= bytes.count
                ? bytes.count : min(bytes.count, max(from, lineStart + maxLength + 1))
            var index = from
            while index < end {
                let byte = bytes[index]
                if byte > HTTPSyntax.cr {
                    index += 1
                } else if byte == HTTPSyntax.cr {
                    guard index + 1 < bytes.count else { return (.needMoreBytes, index) }
                    return (bytes[index + 1] == HTTPSyntax.lf ? .found(crIndex: index) : .bareCR, index)
                } else if byte == HTTPSyntax.lf {
                    return (.bareLF, index)
                } else {
                    index += 1
                }
            }
            return (.needMoreBytes, index)
        }
        scannedByteCount += stop - from
        scanIndex = stop
        switch scan {
        case .found(let crIndex):
            guard crIndex - readIndex <= maxLength else { throw tooLong }
            return crIndex
        case .needMoreBytes:
            guard scanIndex - readIndex <= maxLength else { throw tooLong }
            return nil
        case .bareCR:
            throw .badRequest("bare CR not followed by LF")
        case .bareLF:
            throw .badRequest("bare LF; lines must end with CRLF")
        }
    }

    /// Consumes the line whose CR is at `crIndex`, and its LF.
    mutating func consumeLine(endingAt crIndex: Int) {
        readIndex = crIndex + 2
        scanIndex = readIndex
    }

    /// Runs `body` over `buffer[range]`, indexed from 0.
    func withBytes<Result>(
        _ range: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) -> Result
    ) -> Result {
        buffer.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// `buffer[range]` decoded as UTF-8 (invalid sequences become U+FFFD).
    func makeString(_ range: Range<Int>) -> String {
        withBytes(range) { String(decoding: $0, as: UTF8.self) }
    }

    /// The longest field line that still lets the section fit in `maxHeaderBytes`: room is kept
    /// for its CRLF and for the empty line that ends the section, so a section that can no
    /// longer fit is refused before its end arrives. Every accepted line leaves room for the
    /// empty line, so that one always fits.
    private var sectionRoom: Int {
        max(0, limits.maxHeaderBytes - sectionBytes - 4)
    }

    /// Reads one line of the header section: a field, or the empty line that ends the section,
    /// after which the head is interpreted and returned.
    mutating func readFieldLine() throws(HTTPParseError) -> Progress {
        guard let end = try findLineEnd(maxLength: sectionRoom, tooLong: .headerFieldsTooLarge) else {
            return .needMoreBytes
        }
        let start = readIndex
        consumeLine(endingAt: end)
        if end == start {
            sectionBytes += 2
            return .produced(.head(try completeHead()))
        }
        guard headers.count < limits.maxHeaderCount else { throw .headerFieldsTooLarge }
        let field = try withBytes(start..<end) { Self.parseFieldLine($0) }.get()
        if headers.count == 0 { headers.reserveCapacity(16) }
        headers.append(
            name: makeString(start + field.name.lowerBound..<start + field.name.upperBound),
            value: makeString(start + field.value.lowerBound..<start + field.value.upperBound))
        sectionBytes += end - start + 2
        return .advanced
    }

    /// Reads one line of the trailer section after the last chunk: a field, validated like a
    /// header field and discarded, or the empty line that completes the request.
    mutating func readTrailerLine() throws(HTTPParseError) -> Progress {
        guard let end = try findLineEnd(maxLength: sectionRoom, tooLong: .headerFieldsTooLarge) else {
            return .needMoreBytes
        }
        let start = readIndex
        consumeLine(endingAt: end)
        if end == start {
            return .produced(.request(finishRequest()))
        }
        guard trailerCount < limits.maxHeaderCount else { throw .headerFieldsTooLarge }
        // Trailer fields are not passed on (RFC 9110 §6.5.1 lets a recipient discard them),
        // so no strings are made; the line must still be well-formed.
        _ = try withBytes(start..<end) { Self.parseFieldLine($0) }.get()
        trailerCount += 1
        sectionBytes += end - start + 2
        return .advanced
    }

    /// Splits a non-empty field line (RFC 9112 §5) into the ranges of its name and of its value
    /// without the surrounding optional whitespace.
    static func parseFieldLine(
        _ line: UnsafeBufferPointer<UInt8>
    ) -> Result<(name: Range<Int>, value: Range<Int>), HTTPParseError> {
        // §5.2: a line starting with whitespace is obs-fold (or, first, a stray continuation).
        if HTTPSyntax.isWhitespace(line[0]) {
            return .failure(.badRequest("obs-fold: field line starts with whitespace"))
        }
        var colon = 0
        while colon < line.count && HTTPSyntax.isTokenChar(line[colon]) {
            colon += 1
        }
        guard colon < line.count else {
            return .failure(.badRequest("field line without ':'"))
        }
        guard line[colon] == HTTPSyntax.colon else {
            // §5.1: whitespace between the name and the colon MUST be rejected with 400.
            return .failure(.badRequest(HTTPSyntax.isWhitespace(line[colon])
                ? "whitespace between field name and ':'" : "invalid byte in field name"))
        }
        guard colon > 0 else {
            return .failure(.badRequest("empty field name"))
        }
        var valueStart = colon + 1
        while valueStart < line.count && HTTPSyntax.isWhitespace(line[valueStart]) {
            valueStart += 1
        }
        var valueEnd = line.count
        while valueEnd > valueStart && HTTPSyntax.isWhitespace(line[valueEnd - 1]) {
            valueEnd -= 1
        }
        // RFC 9110 §5.5: NUL, CR, LF and other CTLs are rejected rather than replaced.
        if line[valueStart..<valueEnd].contains(where: { !HTTPSyntax.isFieldValueByte($0) }) {
            return .failure(.badRequest("control character in field value"))
        }
        return .success((name: 0..<colon, value: valueStart..<valueEnd))
    }
}
