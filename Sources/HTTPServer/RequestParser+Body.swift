// Bodies: a fixed length from Content-Length, or the chunked coding (RFC 9112 §7.1).

extension RequestParser {
    /// Most hex digits in a chunk size: 16 fit in 64 bits, so parsing cannot overflow.
    static let maxChunkSizeDigits = 16

    /// A body's first allocation is capped, so a `Content-Length` alone cannot make the parser
    /// reserve `maxBodyBytes`; the buffer grows as bytes actually arrive.
    static let initialBodyCapacity = 64 * 1024

    /// Moves up to `remaining` buffered bytes into the body; completes the request at the end.
    mutating func readFixedBody(remaining: Int) -> Progress {
        if remaining > 0 {
            let count = min(remaining, buffer.count - readIndex)
            guard count > 0 else { return .needMoreBytes }
            // The final size is known: grow by doubling, but never past it.
            let total = body.count + remaining
            if body.count + count > body.capacity {
                let grown = max(body.count + count, body.capacity * 2, Self.initialBodyCapacity)
                body.reserveCapacity(min(total, grown))
            }
            takeBodyBytes(count)
            guard count == remaining else {
                state = .fixedBody(remaining: remaining - count)
                return .needMoreBytes
            }
        }
        return .produced(.request(finishRequest()))
    }

    /// Reads `chunk-size [ chunk-ext ] CRLF`.
    mutating func readChunkSizeLine() throws(HTTPParseError) -> Progress {
        let extensionRoom = max(0, limits.maxChunkExtensionBytes - chunkExtensionBytes)
        guard let end = try findLineEnd(
            maxLength: Self.maxChunkSizeDigits + extensionRoom,
            tooLong: .badRequest("chunk-size line too long"))
        else { return .needMoreBytes }
        let start = readIndex
        let line = try withBytes(start..<end) { Self.parseChunkSizeLine($0) }.get()
        chunkExtensionBytes += line.extensionBytes
        guard chunkExtensionBytes <= limits.maxChunkExtensionBytes else {
            throw .badRequest("chunk extensions too long")
        }
        consumeLine(endingAt: end)
        if line.size == 0 {
            // last-chunk: the trailer section follows, measured on its own.
            sectionBytes = 0
            state = .trailerLines
            return .advanced
        }
        // Refuse before the chunk's data arrives.
        guard line.size <= UInt64(max(0, limits.maxBodyBytes - body.count)) else {
            throw .contentTooLarge
        }
        state = .chunkData(remaining: Int(line.size))
        return .advanced
    }

    /// Moves up to `remaining` buffered bytes of chunk data into the body.
    mutating func readChunkData(remaining: Int) -> Progress {
        let count = min(remaining, buffer.count - readIndex)
        guard count > 0 else { return .needMoreBytes }
        takeBodyBytes(count)
        state = count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - count)
        return count == remaining ? .advanced : .needMoreBytes
    }

    /// Reads the CRLF that must follow chunk data, failing on the first wrong byte.
    mutating func readChunkDataEnd() throws(HTTPParseError) -> Progress {
        let available = buffer.count - readIndex
        guard available > 0 else { return .needMoreBytes }
        let missingCRLF = HTTPParseError.badRequest("chunk data not followed by CRLF")
        guard buffer[readIndex] == HTTPSyntax.cr else { throw missingCRLF }
        guard available > 1 else { return .needMoreBytes }
        guard buffer[readIndex + 1] == HTTPSyntax.lf else { throw missingCRLF }
        consumeLine(endingAt: readIndex)
        state = .chunkSizeLine
        return .advanced
    }

    private mutating func takeBodyBytes(_ count: Int) {
        body.append(contentsOf: buffer[readIndex..<readIndex + count])
        readIndex += count
        scanIndex = readIndex
    }

    /// Parses a chunk-size line without its CRLF: `1*HEXDIG` of at most 16 digits, then nothing
    /// or chunk extensions starting right at `;` (no whitespace after the size; RFC 9112 §7.1.1
    /// allows BWS there, but lenient chunk-size parsing is a known smuggling vector, and the
    /// extensions themselves may contain BWS). Extensions are checked and ignored.
    static func parseChunkSizeLine(
        _ line: UnsafeBufferPointer<UInt8>
    ) -> Result<(size: UInt64, extensionBytes: Int), HTTPParseError> {
        var size: UInt64 = 0
        var index = 0
        while index < line.count, let digit = HTTPSyntax.hexValue(line[index]) {
            guard index < maxChunkSizeDigits else {
                return .failure(.badRequest("chunk size longer than \(maxChunkSizeDigits) hex digits"))
            }
            size = size << 4 | UInt64(digit)
            index += 1
        }
        guard index > 0 else { return .failure(.badRequest("chunk size is not hexadecimal")) }
        guard index < line.count else { return .success((size, 0)) }
        guard line[index] == HTTPSyntax.semicolon else {
            return .failure(.badRequest("unexpected byte after chunk size"))
        }
        guard HTTPSyntax.isParameterList(line[index...], valueRequired: false) else {
            return .failure(.badRequest("malformed chunk extension"))
        }
        return .success((size, line.count - index))
    }
}
