// What must hold for the requests a parser accepts, whatever bytes produced them.

/// Events come as `.head` then `.request` with that head; every accepted request respects the
/// limits and RFC 9112's framing rules, and means the same when written out again and reparsed.
func checkEvents(_ outcome: Outcome, limits: HTTPLimits) {
    var pendingHead: HTTPRequestHead?
    for event in outcome.events {
        switch event {
        case .head(let head):
            check(pendingHead == nil, "two heads without a request between them")
            checkHead(head, limits: limits)
            pendingHead = head
        case .request(let request):
            check(pendingHead == request.head, "request \(request.head) after head \(String(describing: pendingHead))")
            pendingHead = nil
            checkBody(request)
            check(request.body.count <= limits.maxBodyBytes,
                  "body of \(request.body.count) bytes, limit \(limits.maxBodyBytes)")
            checkReparses(request)
        }
    }
}

func checkHead(_ head: HTTPRequestHead, limits: HTTPLimits) {
    check(head.version == .http1_0 || head.version == .http1_1, "version \(head.version)")
    check(HTTPSyntax.isToken(head.method.utf8), "method \(head.method) is not a token")
    check(!head.target.isEmpty && head.target.utf8.allSatisfy(HTTPSyntax.isTargetByte),
          "target \(head.target)")
    let lineBytes = head.method.utf8.count + head.target.utf8.count + 10
    check(lineBytes <= limits.maxRequestLineBytes && lineBytes + 4 <= limits.maxHeaderBytes,
          "request line of \(lineBytes) bytes")
    check(head.headers.count <= limits.maxHeaderCount, "\(head.headers.count) header fields")
    for (name, value) in head.headers {
        check(HTTPSyntax.isToken(name.utf8), "field name \(name)")
        check(value.utf8.allSatisfy(HTTPSyntax.isFieldValueByte), "control byte in value of \(name)")
        check(value.utf8.first.map { !HTTPSyntax.isWhitespace($0) } ?? true
              && value.utf8.last.map { !HTTPSyntax.isWhitespace($0) } ?? true,
              "untrimmed value of \(name)")
    }
    let hosts = head.headers.values("Host").count
    check(hosts <= 1 && (hosts == 1 || head.version == .http1_0), "\(hosts) Host fields")
    let lengths = head.headers.values("Content-Length")
    let codings = head.headers.values("Transfer-Encoding")
    check(lengths.isEmpty || codings.isEmpty, "both Content-Length and Transfer-Encoding")
    check(lengths.count <= 1, "\(lengths.count) Content-Length fields")
    switch head.framing {
    case .none:
        check(lengths.isEmpty && codings.isEmpty, "framing .none with framing fields")
    case .length(let length):
        check(lengths == [String(length)] || (lengths.count == 1 && Int(lengths[0]) == length),
              "framing .length(\(length)) from \(lengths)")
        check(length <= limits.maxBodyBytes, "Content-Length \(length) above the limit")
    case .chunked:
        check(!codings.isEmpty && head.version == .http1_1, "framing .chunked from \(codings)")
    }
    check(!head.expectsContinue || head.version == .http1_1, "100-continue in HTTP/1.0")
}

func checkBody(_ request: HTTPRequest) {
    switch request.head.framing {
    case .none: check(request.body.isEmpty, "body without framing")
    case .length(let length): check(request.body.count == length, "body of \(request.body.count), length \(length)")
    case .chunked: break
    }
}

/// Writes the request out canonically (no OWS, one chunk) and checks that it parses back to the
/// same head and body: what the parser accepted survives being forwarded or logged and re-read.
func checkReparses(_ request: HTTPRequest) {
    let head = request.head
    var wire = Array("\(head.method) \(head.target) \(head.version)\r\n".utf8)
    for (name, value) in head.headers {
        wire += Array("\(name):\(value)\r\n".utf8)
    }
    wire += [HTTPSyntax.cr, HTTPSyntax.lf]
    if head.framing == .chunked {
        if !request.body.isEmpty {
            wire += Array("\(String(request.body.count, radix: 16))\r\n".utf8) + request.body + [HTTPSyntax.cr, HTTPSyntax.lf]
        }
        wire += Array("0\r\n\r\n".utf8)
    } else {
        wire += request.body
    }
    let again = parse([wire[...]], limits: roomyLimits)
    check(again == Outcome(events: [.head(head), .request(request)]),
          "re-serialized \(request) parsed as \(again)")
}
