// libFuzzer entry for `RequestParser`, compiled into one module with the parser's sources
// (see fuzz/run.sh), so the harness can also read the parser's internal state.
//
// Each input is parsed under two sets of limits (the defaults, and tight ones that the fuzzer
// can reach), each fed three ways: whole, split in two at a point derived from the input, and
// (for small inputs) one byte at a time. Any difference between the three, or any broken
// invariant, traps with a message naming it.

/// Limits small enough for short inputs to hit every one of them.
let tightLimits: HTTPLimits = {
    var limits = HTTPLimits()
    limits.maxRequestLineBytes = 48
    limits.maxHeaderBytes = 160
    limits.maxHeaderCount = 4
    limits.maxBodyBytes = 32
    limits.maxChunkExtensionBytes = 12
    limits.maxLeadingEmptyLines = 1
    return limits
}()

/// Limits that a re-serialized request always fits in (U+FFFD can triple a value's size).
let roomyLimits: HTTPLimits = {
    var limits = HTTPLimits()
    limits.maxRequestLineBytes = 1 << 20
    limits.maxHeaderBytes = 1 << 22
    limits.maxHeaderCount = 1 << 16
    return limits
}()

/// Inputs up to this size are also fed one byte at a time.
let bytewiseLimit = 4096

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: start, count: count))
    for limits in [HTTPLimits(), tightLimits] {
        checkSplitsAgree(input, limits: limits)
    }
    return 0
}

/// Everything a parser produced for some input, up to and including its error.
struct Outcome: Equatable {
    var events: [RequestParser.Event] = []
    var error: HTTPParseError?
}

func checkSplitsAgree(_ input: [UInt8], limits: HTTPLimits) {
    let whole = parse([input[...]], limits: limits)
    checkEvents(whole, limits: limits)

    let cut = splitPoint(input)
    let halves = parse([input[..<cut], input[cut...]], limits: limits)
    check(halves == whole, "split at \(cut) gave \(halves) but whole input gave \(whole)")

    if input.count <= bytewiseLimit {
        let bytewise = parse(input.indices.map { input[$0...$0] }, limits: limits)
        check(bytewise == whole, "byte by byte gave \(bytewise) but whole input gave \(whole)")
    }
}

/// A split point that depends on every byte, so mutations move it around (FNV-1a).
func splitPoint(_ input: [UInt8]) -> Int {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in input {
        hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    return Int(hash % UInt64(input.count + 1))
}

/// Appends each piece and drains `next()` after it, as the server does, checking the parser's
/// state after every step and the stickiness of its error at the end.
func parse(_ pieces: [ArraySlice<UInt8>], limits: HTTPLimits) -> Outcome {
    var parser = RequestParser(limits: limits)
    var outcome = Outcome()
    for piece in pieces {
        piece.withUnsafeBytes { parser.append($0) }
        checkState(parser)
        do {
            while let event = try parser.next() {
                outcome.events.append(event)
                checkState(parser)
            }
            checkWaiting(parser)
        } catch {
            outcome.error = error
            checkSticky(&parser, error)
            return outcome
        }
    }
    return outcome
}

/// Internal consistency after any step: indices in order, the body under its limit.
func checkState(_ parser: RequestParser) {
    check(parser.readIndex <= parser.scanIndex && parser.scanIndex <= parser.buffer.count,
          "indices out of order: read \(parser.readIndex) scan \(parser.scanIndex) count \(parser.buffer.count)")
    check(parser.body.count <= parser.limits.maxBodyBytes,
          "body in progress holds \(parser.body.count) bytes, limit \(parser.limits.maxBodyBytes)")
    check(parser.headers.count <= parser.limits.maxHeaderCount,
          "\(parser.headers.count) header fields buffered, limit \(parser.limits.maxHeaderCount)")
    check(parser.isReadingBody == (parser.head != nil), "isReadingBody disagrees with head")
}

/// When `next()` asks for more bytes, what is left unconsumed is one unfinished line (at most
/// its limit plus a CR waiting for its LF) or the CR of a chunk's CRLF: nothing a peer can grow.
func checkWaiting(_ parser: RequestParser) {
    let limits = parser.limits
    let longestLine = max(limits.maxRequestLineBytes, limits.maxHeaderBytes,
                          RequestParser.maxChunkSizeDigits + limits.maxChunkExtensionBytes)
    check(parser.bufferedBytes <= longestLine + 1,
          "\(parser.bufferedBytes) bytes buffered while waiting, longest line \(longestLine)")
}

/// After an error the parser holds nothing and throws the same error forever, whatever follows.
func checkSticky(_ parser: inout RequestParser, _ error: HTTPParseError) {
    check(parser.bufferedBytes == 0 && !parser.hasPartialRequest && !parser.isReadingBody,
          "a failed parser still holds a request")
    parser.append(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
    check(parser.bufferedBytes == 0, "a failed parser buffered more bytes")
    for _ in 0..<2 {
        do {
            let event = try parser.next()
            check(false, "a failed parser returned \(String(describing: event)) after \(error)")
        } catch let again {
            check(again == error, "a failed parser threw \(again) after \(error)")
        }
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("request-parser invariant: \(message())") }
}
