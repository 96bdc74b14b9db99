/// An incremental HTTP/1.1 request parser (RFC 9112) for one connection.
///
/// Feed it the bytes read from the socket with `append`, then call `next()` until it returns
/// nil. For each request it returns `.head` once the request line and headers are complete, so
/// the server can send `100 Continue` or reject early, and `.request` once the body is complete.
/// Bytes after a request stay buffered for the next one, so pipelined requests come out in order.
///
/// The parser is strict: what RFC 9112 lets a server reject is rejected (bare LF, bare CR,
/// obs-fold, duplicate or malformed `Content-Length`, `Transfer-Encoding` with `Content-Length`,
/// …), because a lenient parse that disagrees with a peer's is how request smuggling starts.
/// Every error is final: the parser drops its buffer and every later `next()` throws the same
/// error, and the server answers with `error.status` and closes the connection.
///
/// Cost is linear in the input however it is split: each byte is examined once by the line scan
/// (which resumes where it stopped), consumed bytes are dropped from the front of the buffer,
/// body bytes are copied once into the request, and strings are made only for the method, the
/// target and each header field.
///
/// A plain value with no shared state: the connection that owns it is its only user.
package struct RequestParser: Sendable {
    /// What `next()` produces.
    package enum Event: Sendable, Equatable {
        /// The head of the next request is complete; its body follows.
        case head(HTTPRequestHead)
        /// The request whose head was returned last is complete, body included.
        case request(HTTPRequest)
    }

    enum State: Sendable, Equatable {
        case requestLine
        case fieldLines
        case fixedBody(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailerLines
        case failed(HTTPParseError)
    }

    /// What one step of the state machine achieved.
    enum Progress {
        case needMoreBytes
        case advanced
        case produced(Event)
    }

    /// Above this capacity an emptied buffer gives its storage back, so an idle kept-alive
    /// connection holds at most this much after a burst.
    static let retainedBufferCapacity = 16 * 1024

    let limits: HTTPLimits
    var state = State.requestLine

    /// Received bytes; `buffer[readIndex...]` are not consumed yet.
    var buffer: [UInt8] = []
    var readIndex = 0
    /// Where the search for the end of the current line resumes (`readIndex ≤ scanIndex`).
    var scanIndex = 0
    /// Bytes examined by the line scan since creation; tests use it to check linear cost.
    var scannedByteCount = 0

    // The request being parsed.
    var emptyLinesSkipped = 0
    /// Bytes of the header (or trailer) section consumed so far, CRLFs included.
    var sectionBytes = 0
    var trailerCount = 0
    var chunkExtensionBytes = 0
    var method = ""
    var target = ""
    var version = HTTPVersion.http1_1
    var headers = HTTPHeaders()
    /// Set from `.head` until `.request`.
    var head: HTTPRequestHead?
    var body: [UInt8] = []

    /// A parser enforcing `limits`.
    package init(limits: HTTPLimits = .init()) {
        self.limits = limits
    }

    /// Buffers bytes read from the connection. Ignored once the parser has failed.
    package mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if case .failed = state { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Buffers bytes read from the connection. Ignored once the parser has failed.
    package mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Parses as far as the buffered bytes allow.
    ///
    /// Returns `.head` once when a request head is complete, then `.request` when its body is
    /// complete, then moves on to the next pipelined request; nil when more bytes are needed.
    /// After it throws, the parser is dead: every later call throws the same error, and the
    /// server answers with `error.status` and closes the connection.
    package mutating func next() throws(HTTPParseError) -> Event? {
        do throws(HTTPParseError) {
            while true {
                let progress: Progress
                switch state {
                case .requestLine: progress = try readRequestLine()
                case .fieldLines: progress = try readFieldLine()
                case .fixedBody(let remaining): progress = readFixedBody(remaining: remaining)
                case .chunkSizeLine: progress = try readChunkSizeLine()
                case .chunkData(let remaining): progress = readChunkData(remaining: remaining)
                case .chunkDataEnd: progress = try readChunkDataEnd()
                case .trailerLines: progress = try readTrailerLine()
                case .failed(let error): throw error
                }
                switch progress {
                case .needMoreBytes: return nil
                case .advanced: continue
                case .produced(let event): return event
                }
            }
        } catch {
            fail(error)
            throw error
        }
    }

    /// Whether part of a request is buffered or in progress: bytes of a request line (not the
    /// empty lines skipped before one), headers, or a body not yet complete. The server uses it
    /// to choose between the head or body deadline and the keep-alive timeout.
    package var hasPartialRequest: Bool {
        switch state {
        case .failed: false
        case .requestLine: readIndex < buffer.count
        default: true
        }
    }

    /// Whether a `.head` was returned and its `.request` not yet.
    package var isReadingBody: Bool { head != nil }

    /// Bytes received but not yet consumed. Body bytes count until `next()` moves them into the
    /// request being built.
    package var bufferedBytes: Int { buffer.count - readIndex }

    /// Bytes of request input the parser holds: buffered and not consumed, plus the body of the
    /// request being read.
    package var heldBytes: Int { buffer.count - readIndex + body.count }

    private mutating func fail(_ error: HTTPParseError) {
        state = .failed(error)
        buffer = []
        readIndex = 0
        scanIndex = 0
        headers = HTTPHeaders()
        head = nil
        body = []
    }

    /// Drops consumed bytes from the front of the buffer. Emptying it is free; moving an unread
    /// tail happens only when at least as many bytes were consumed as remain, so each byte is
    /// moved at most once on average.
    mutating func compact() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedBufferCapacity)
        } else if readIndex >= buffer.count - readIndex {
            buffer.removeSubrange(0..<readIndex)
        } else {
            return
        }
        scanIndex -= readIndex
        readIndex = 0
    }

    /// Ends the current request and resets for the next one.
    mutating func finishRequest() -> HTTPRequest {
        guard let head else {
            preconditionFailure("a body completed without a head")
        }
        let request = HTTPRequest(head: head, body: body)
        self.head = nil
        body = []
        emptyLinesSkipped = 0
        sectionBytes = 0
        trailerCount = 0
        chunkExtensionBytes = 0
        state = .requestLine
        compact()
        return request
    }
}
