/// Every limit the HTTP/1.1 server enforces, in one place.
///
/// `RequestParser` enforces the byte and count limits; the server enforces `maxConnections` and
/// the timeouts. The defaults suit a webhook receiver: small heads, bodies up to 1 MiB. Each
/// limit is checked as soon as it can be known to be exceeded, so a peer can never make the
/// parser buffer more than a limit's worth of bytes before it answers.
package struct HTTPLimits: Sendable, Equatable {
    /// Longest request line, in bytes, not counting its CRLF. Longer → 414 URI Too Long,
    /// reported as soon as that many bytes of the line are buffered without a CRLF.
    package var maxRequestLineBytes = 8 * 1024

    /// Largest header section, in bytes: the request line, every field line and the empty line
    /// that ends the section, each with its CRLF. Skipped empty lines before the request line do
    /// not count. The trailer section of a chunked body is measured the same way against its own
    /// allowance of this size. Larger → 431, reported as soon as the section can no longer fit.
    package var maxHeaderBytes = 16 * 1024

    /// Most field lines in the header section, and separately in the trailer section.
    /// More → 431, reported when the first field line too many is complete.
    package var maxHeaderCount = 64

    /// Largest body, in bytes, after chunked decoding. A `Content-Length` above it → 413 as soon
    /// as the head is complete, before any body byte. For a chunked body → 413 as soon as a
    /// chunk-size line would take the total above it, before that chunk's data.
    package var maxBodyBytes = 1 << 20

    /// Most bytes of chunk extensions in one chunked body, summed over all its chunk-size lines
    /// (each counted from its first `;` to its CRLF). More → 400. RFC 9112 §7.1.1: "A server
    /// ought to limit the total length of chunk extensions received in a request".
    package var maxChunkExtensionBytes = 256

    /// Most empty lines (CRLF) skipped before a request line (RFC 9112 §2.2). More → 400.
    package var maxLeadingEmptyLines = 4

    /// Most connections the server holds open at once; the parser does not use it.
    package var maxConnections = 1024

    /// Request input all connections together may hold beyond `connectionInputAllowance` each:
    /// bytes buffered, bodies being read and bodies whose answer is still owed. A request that
    /// needs more while it is spent gets 503 (with `Retry-After`) and the connection closes; a
    /// request that fits in the allowance never waits for it (server only).
    package var requestMemoryBytes = 32 << 20

    /// Request input one connection may hold without drawing on `requestMemoryBytes`; pipelined
    /// requests are read only up to this while an answer is owed (server only).
    package var connectionInputAllowance = 16 << 10

    /// Descriptors the server leaves free for the rest of the process (the queue's next segment,
    /// the worker's connections and files, the runtime's own `/proc` reads): a connection whose
    /// descriptor number is within this many of the soft `RLIMIT_NOFILE` is closed at once, so
    /// clients run out of connections before the queue runs out of descriptors (server only).
    package var descriptorReserve = 64

    /// Deadline for the request line and headers, from their first byte (server only).
    package var headTimeout: Duration = .seconds(10)

    /// Longest gap between two reads of a body (server only).
    package var bodyIdleTimeout: Duration = .seconds(10)

    /// Longest idle time between requests on a kept-alive connection (server only).
    package var keepAliveTimeout: Duration = .seconds(30)
    /// Server: deadline for a whole request, head and body, from its first byte. A body sent a
    /// byte at a time just inside `bodyIdleTimeout` is still cut off here (408).
    package var requestTimeout: Duration = .seconds(30)

    /// The defaults listed on each property.
    package init() {}
}
