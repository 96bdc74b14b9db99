#!/usr/bin/env python3
"""Writes the hostile HTTP/1.1 request corpus: one file per case (exact bytes) and expected.tsv.

    python3 Tests/Fixtures/http-corpus/generate.py

The files are checked in; this script is their source, so edit a case here and rerun it.
Statuses are what xero-webhookd's HTTP server answers with its default HTTPLimits (request
line 8 KiB, header section 16 KiB, 64 fields, body 1 MiB, chunk extensions 256 bytes, 4 empty
lines before a request line) and a handler that answers 200 to every request it is given.

expected.tsv columns:
  file     the case's file
  status   the status of the first final answer; `close` = the server closes without answering
  closed   yes = the server must close the connection after the answer (or without one);
           no = the connection must stay usable for another request
  client   what the replaying client does after sending the bytes:
           wait     keeps its side open and reads
           shutdown half-closes (SHUT_WR): the request can never be completed
           reset    closes with an RST (SO_LINGER 0) without reading
  reason   the RFC rule, or our policy where the RFC leaves a choice
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = b"Host: example.com\r\n"
CASES = []


def case(name, data, status, closed, client, reason):
    assert isinstance(data, bytes), name
    assert closed in ("yes", "no") and client in ("wait", "shutdown", "reset"), name
    assert "\t" not in reason and "\n" not in reason, name
    assert all(c[0] != name for c in CASES), name
    CASES.append((name, data, str(status), closed, client, reason))


def control(name, data, reason, closed="no"):
    case(name, data, 200, closed, "wait", reason)


def bad(name, data, reason, status=400):
    case(name, data, status, "yes", "wait", reason)


def get(extra=b"", target=b"/", version=b"HTTP/1.1"):
    return b"GET " + target + b" " + version + b"\r\n" + HOST + extra + b"\r\n"


def post(headers, body=b""):
    return b"POST /webhooks/xero HTTP/1.1\r\n" + HOST + headers + b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"
HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"

# ---- Well-formed controls: handled, answered 200 ------------------------------------------
control("control-get.http", get(), "well-formed GET")
control("control-post-content-length.http", post(b"Content-Length: 5\r\n", b"hello"), "RFC 9112 §6.2 Content-Length body")
control("control-post-chunked.http", post(CHUNKED, HELLO_CHUNKED), "RFC 9112 §7.1 chunked body")
control("control-content-length-zero.http", post(b"Content-Length: 0\r\n"), "RFC 9110 §8.6 zero length")
control("control-chunked-uppercase-hex.http", post(CHUNKED, b"A\r\n0123456789\r\n0\r\n\r\n"), "RFC 9112 §7.1 HEXDIG is case-insensitive")
control("control-chunk-extension.http", post(CHUNKED, b"5;name=value\r\nhello\r\n0\r\n\r\n"), "RFC 9112 §7.1.1 chunk-ext ignored")
control("control-chunk-extension-quoted.http", post(CHUNKED, b'5;name="quoted value"\r\nhello\r\n0\r\n\r\n'), "RFC 9112 §7.1.1 chunk-ext quoted-string")
control("control-chunked-trailer.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"), "RFC 9112 §7.1.2 trailer section")
control("control-chunked-last-chunk-zeros.http", post(CHUNKED, b"5\r\nhello\r\n000\r\n\r\n"), "RFC 9112 §7.1 last-chunk = 1*(\"0\")")
control("control-te-uppercase-chunked.http", post(b"Transfer-Encoding: CHUNKED\r\n", HELLO_CHUNKED), "RFC 9110 §10.1.4 coding names are case-insensitive")
control("control-te-name-mixed-case.http", post(b"tRANSFER-eNCODING: chunked\r\n", HELLO_CHUNKED), "RFC 9110 §5.1 field names are case-insensitive")
control("control-te-tab-before-value.http", post(b"Transfer-Encoding:\tchunked\r\n", HELLO_CHUNKED), "RFC 9110 §5.6.3 OWS includes HTAB")
control("control-cl-tab-before-value.http", post(b"Content-Length:\t5\r\n", b"hello"), "RFC 9110 §5.6.3 OWS includes HTAB")
control("control-cl-leading-zeros-20-digits.http", post(b"Content-Length: 00000000000000000005\r\n", b"hello"), "RFC 9110 §8.6 1*DIGIT: leading zeros are digits")
control("control-http10.http", b"GET / HTTP/1.0\r\n\r\n", "RFC 9112 §9.3 HTTP/1.0 closes without keep-alive", closed="yes")
control("control-http10-keep-alive.http", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "RFC 9112 §9.3 HTTP/1.0 keep-alive")
control("control-connection-close.http", get(b"Connection: close\r\n"), "RFC 9112 §9.6 close after the answer", closed="yes")
control("control-leading-empty-line.http", b"\r\n" + get(), "RFC 9112 §2.2 SHOULD ignore an empty line before the request line")
control("control-absolute-form.http", get(target=b"http://example.com/"), "RFC 9112 §3.2.2 absolute-form")
control("control-absolute-form-other-host.http", get(target=b"http://other.example/"), "RFC 9112 §3.2.2 Host is ignored with absolute-form")
control("control-options-asterisk.http", b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n", "RFC 9112 §3.2.4 asterisk-form for OPTIONS")
control("control-expect-100-continue.http", post(b"Expect: 100-continue\r\nContent-Length: 5\r\n", b"hello"), "RFC 9110 §10.1.1 100 Continue then the answer")
control("control-http-minor-version-higher.http", get(version=b"HTTP/1.2"), "RFC 9110 §2.5 a higher minor version is handled as 1.1")
control("control-ows-around-value.http", get(b"X-Padded:  \t value \t \r\n"), "RFC 9112 §5.1 OWS around the value is removed")
control("control-empty-field-value.http", get(b"X-Empty:\r\n"), "RFC 9110 §5.5 a field value may be empty")
control("control-obs-text-value.http", get(b"X-Latin: caf\xe9 \x80\xff\r\n"), "RFC 9110 §5.5 obs-text is allowed in values")
control("control-host-empty.http", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "RFC 9110 §7.2 an empty Host is valid")
control("control-host-port.http", b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "RFC 9110 §7.2 uri-host [:port]")
control("control-host-ipv6-literal.http", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "RFC 9110 §7.2 IP-literal")
control("control-method-lowercase.http", get().replace(b"GET", b"get", 1), "RFC 9110 §9.1 any token is a method (the handler decides)")
control("control-trailer-content-length.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"), "RFC 9110 §6.5.1 forbidden trailer discarded, never merged")
control("control-trailer-transfer-encoding.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), "RFC 9110 §6.5.1 forbidden trailer discarded, never merged")
control("control-trailer-host.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nHost: evil.example\r\n\r\n"), "RFC 9110 §6.5.1 forbidden trailer discarded, never merged")

# ---- Request smuggling shapes ---------------------------------------------------------------
BOTH = "RFC 9112 §6.1 CL with TE: MAY reject, MUST close"
bad("smuggling-cl-te.http", post(b"Content-Length: 6\r\n" + CHUNKED, b"0\r\n\r\nG"), BOTH)
bad("smuggling-te-cl.http", post(CHUNKED + b"Content-Length: 4\r\n",
    b"5c\r\nGPOST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n"), BOTH)
bad("smuggling-cl-te-smuggled-get.http", post(b"Content-Length: 35\r\n" + CHUNKED,
    b"0\r\n\r\nGET /admin HTTP/1.1\r\nX-Ignore: x"), BOTH)
bad("smuggling-cl-te-lowercase.http", post(b"content-length: 5\r\ntransfer-encoding: chunked\r\n", HELLO_CHUNKED), BOTH)
bad("smuggling-cl-zero-te.http", post(b"Content-Length: 0\r\n" + CHUNKED, HELLO_CHUNKED), BOTH)
bad("smuggling-te-space-before-colon.http", post(b"Transfer-Encoding : chunked\r\n", HELLO_CHUNKED), "RFC 9112 §5.1 whitespace before ':' MUST be rejected with 400")
bad("smuggling-te-tab-before-colon.http", post(b"Transfer-Encoding\t: chunked\r\n", HELLO_CHUNKED), "RFC 9112 §5.1 whitespace before ':' MUST be rejected with 400")
bad("smuggling-te-space-in-name.http", post(b"Transfer Encoding: chunked\r\n", HELLO_CHUNKED), "RFC 9110 §5.1 field-name is a token")
bad("smuggling-te-cl-space-before-colon.http", post(b"Content-Length: 5\r\nTransfer-Encoding : chunked\r\n", HELLO_CHUNKED), "RFC 9112 §5.1 whitespace before ':' MUST be rejected with 400")
bad("smuggling-te-xchunked.http", post(b"Transfer-Encoding: xchunked\r\n", HELLO_CHUNKED), "RFC 9112 §6.3 chunked not final: MUST 400 and close")
bad("smuggling-te-xchunked-with-cl.http", post(b"Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n", b"hello"), BOTH)
bad("smuggling-te-chunked-identity.http", post(b"Transfer-Encoding: chunked, identity\r\n", HELLO_CHUNKED), "RFC 9112 §6.3 chunked not final: MUST 400 and close")
bad("smuggling-te-chunked-then-identity-line.http", post(CHUNKED + b"Transfer-Encoding: identity\r\n", HELLO_CHUNKED), "RFC 9112 §6.3 chunked not final (lines are one list): MUST 400")
bad("smuggling-te-identity-chunked.http", post(b"Transfer-Encoding: identity, chunked\r\n", HELLO_CHUNKED), "RFC 9112 §6.1 unknown coding: SHOULD 501", status=501)
bad("smuggling-te-gzip-chunked.http", post(b"Transfer-Encoding: gzip, chunked\r\n", HELLO_CHUNKED), "RFC 9112 §6.1 coding not implemented: SHOULD 501", status=501)
bad("smuggling-te-chunked-twice-lines.http", post(CHUNKED + CHUNKED, HELLO_CHUNKED), "RFC 9112 §6.1 chunked MUST NOT be applied twice")
bad("smuggling-te-chunked-chunked.http", post(b"Transfer-Encoding: chunked, chunked\r\n", HELLO_CHUNKED), "RFC 9112 §6.1 chunked MUST NOT be applied twice")
bad("smuggling-te-vtab-before-value.http", post(b"Transfer-Encoding:\x0bchunked\r\n", HELLO_CHUNKED), "RFC 9110 §5.5 CTL in a field value: reject")
bad("smuggling-te-vtab-after-value.http", post(b"Transfer-Encoding: chunked\x0b\r\n", HELLO_CHUNKED), "RFC 9110 §5.5 CTL in a field value: reject")
bad("smuggling-te-formfeed-value.http", post(b"Transfer-Encoding:\x0cchunked\r\n", HELLO_CHUNKED), "RFC 9110 §5.5 CTL in a field value: reject")
bad("smuggling-te-nul-after-value.http", post(b"Transfer-Encoding: chunked\x00\r\n", HELLO_CHUNKED), "RFC 9110 §5.5 NUL in a field value: MUST reject or replace")
bad("smuggling-te-obs-fold.http", post(b"Transfer-Encoding:\r\n chunked\r\n", HELLO_CHUNKED), "RFC 9112 §5.2 obs-fold: reject with 400")
bad("smuggling-te-quoted.http", post(b'Transfer-Encoding: "chunked"\r\n', HELLO_CHUNKED), "RFC 9110 §10.1.4 transfer-coding is a token")
bad("smuggling-te-chunked-parameter.http", post(b"Transfer-Encoding: chunked;q=1\r\n", HELLO_CHUNKED), "RFC 9112 §7 chunked takes no parameters")
bad("smuggling-te-empty.http", post(b"Transfer-Encoding:\r\n", HELLO_CHUNKED), "RFC 9112 §6.3 TE present, chunked not final: MUST 400 and close")
bad("smuggling-te-empty-with-cl.http", post(b"Transfer-Encoding:\r\nContent-Length: 5\r\n", b"hello"), BOTH)
bad("smuggling-te-kelvin-sign.http", post(b"Transfer-Encoding: chun\xe2\x84\xaaed\r\n", HELLO_CHUNKED), "RFC 9110 §10.1.4 token: U+212A is not 'k'")
bad("smuggling-te-http10.http", b"POST / HTTP/1.0\r\n" + CHUNKED + b"\r\n" + HELLO_CHUNKED, "RFC 9112 §6.1 TE in HTTP/1.0: framing faulty, close")
bad("smuggling-te-cl-http10.http", b"POST / HTTP/1.0\r\nContent-Length: 5\r\n" + CHUNKED + b"\r\n" + HELLO_CHUNKED, "RFC 9112 §6.1 TE in HTTP/1.0: framing faulty, close")

# ---- Content-Length -------------------------------------------------------------------------
INVALID_CL = "RFC 9112 §6.3 invalid Content-Length: MUST 400 and close (RFC 9110 §8.6 1*DIGIT)"
bad("cl-duplicate-same.http", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), "RFC 9110 §8.6 repeated identical values MAY be rejected (we do)")
bad("cl-duplicate-different.http", post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), "RFC 9112 §6.3 differing Content-Length: MUST 400")
bad("cl-comma-same.http", post(b"Content-Length: 5, 5\r\n", b"hello"), "RFC 9110 §8.6 list of identical values MAY be rejected (we do)")
bad("cl-comma-different.http", post(b"Content-Length: 5, 6\r\n", b"hello!"), INVALID_CL)
bad("cl-plus-sign.http", post(b"Content-Length: +5\r\n", b"hello"), INVALID_CL)
bad("cl-minus-one.http", post(b"Content-Length: -1\r\n", b"hello"), INVALID_CL)
bad("cl-minus-zero.http", post(b"Content-Length: -0\r\n"), INVALID_CL)
bad("cl-hex.http", post(b"Content-Length: 0x5\r\n", b"hello"), INVALID_CL)
bad("cl-decimal-point.http", post(b"Content-Length: 5.0\r\n", b"hello"), INVALID_CL)
bad("cl-space-inside.http", post(b"Content-Length: 1 0\r\n", b"helloworld"), INVALID_CL)
bad("cl-empty.http", post(b"Content-Length:\r\n"), INVALID_CL)
bad("cl-fullwidth-digit.http", post(b"Content-Length: \xef\xbc\x95\r\n", b"hello"), INVALID_CL)
bad("cl-20-digits.http", post(b"Content-Length: 99999999999999999999\r\n", b"hello"), INVALID_CL + " (overflow)")
bad("cl-int64-max-plus-one.http", post(b"Content-Length: 9223372036854775808\r\n", b"hello"), INVALID_CL + " (overflow)")
bad("cl-int64-max.http", post(b"Content-Length: 9223372036854775807\r\n"), "RFC 9110 §15.5.14 413 before the body is read", status=413)
bad("cl-vtab-before-value.http", post(b"Content-Length:\x0b5\r\n", b"hello"), "RFC 9110 §5.5 CTL in a field value: reject")
bad("cl-space-before-colon.http", post(b"Content-Length : 5\r\n", b"hello"), "RFC 9112 §5.1 whitespace before ':' MUST be rejected with 400")

# ---- Chunked bodies -------------------------------------------------------------------------
CHUNK = "RFC 9112 §7.1 chunk-size = 1*HEXDIG, then chunk-ext or CRLF"
bad("chunked-size-0x-prefix.http", post(CHUNKED, b"0x5\r\nhello\r\n0\r\n\r\n"), CHUNK)
bad("chunked-size-negative.http", post(CHUNKED, b"-5\r\nhello\r\n0\r\n\r\n"), CHUNK)
bad("chunked-size-plus-sign.http", post(CHUNKED, b"+5\r\nhello\r\n0\r\n\r\n"), CHUNK)
bad("chunked-size-underscore.http", post(CHUNKED, b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n"), CHUNK)
bad("chunked-size-leading-space.http", post(CHUNKED, b" 5\r\nhello\r\n0\r\n\r\n"), CHUNK)
bad("chunked-size-trailing-space.http", post(CHUNKED, b"5 \r\nhello\r\n0\r\n\r\n"), CHUNK + " (BWS only before ';')")
bad("chunked-size-bws-before-extension.http", post(CHUNKED, b"5 ;a=b\r\nhello\r\n0\r\n\r\n"), "RFC 9112 §7.1.1 allows BWS before ';'; we reject it: lenient chunk lines are a smuggling vector")
bad("chunked-size-missing.http", post(CHUNKED, b"\r\nhello\r\n0\r\n\r\n"), CHUNK)
bad("chunked-size-not-hex.http", post(CHUNKED, b"g\r\nhello\r\n0\r\n\r\n"), CHUNK)
bad("chunked-size-17-hex-digits.http", post(CHUNKED, b"10000000000000000\r\nhello\r\n0\r\n\r\n"), "RFC 9112 §7.1 chunk size overflow: 400")
bad("chunked-size-17-digits-leading-zeros.http", post(CHUNKED, b"00000000000000005\r\nhello\r\n0\r\n\r\n"), "RFC 9112 §7.1 chunk-size line over 16 digits: 400 (no unbounded digit runs)")
bad("chunked-size-ffff-16-digits.http", post(CHUNKED, b"FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), "RFC 9110 §15.5.14 413 before the chunk's data", status=413)
bad("chunked-missing-crlf-after-data.http", post(CHUNKED, b"5\r\nhelloX0\r\n\r\n"), "RFC 9112 §7.1 chunk-data CRLF is required")
bad("chunked-data-longer-than-size.http", post(CHUNKED, b"3\r\nhello\r\n0\r\n\r\n"), "RFC 9112 §7.1 chunk-data CRLF is required")
bad("chunked-lf-only-after-data.http", post(CHUNKED, b"5\r\nhello\n0\r\n\r\n"), "RFC 9112 §2.2 bare LF: we reject (policy)")
bad("chunked-bare-lf-size-line.http", post(CHUNKED, b"5\nhello\r\n0\r\n\r\n"), "RFC 9112 §2.2 bare LF: we reject (policy)")
bad("chunked-bare-cr-size-line.http", post(CHUNKED, b"5\rhello\r\n0\r\n\r\n"), "RFC 9112 §2.2 bare CR: MUST reject or replace")
bad("chunked-huge-extension.http", post(CHUNKED, b"5;" + b"a" * 1000 + b"\r\nhello\r\n0\r\n\r\n"), "RFC 9112 §7.1.1 server ought to limit chunk extensions (256 bytes per body)")
bad("chunked-many-extensions.http", post(CHUNKED, b"".join(b"1;ext=" + b"v" * 60 + b"\r\nx\r\n" for _ in range(6)) + b"0\r\n\r\n"), "RFC 9112 §7.1.1 server ought to limit chunk extensions (256 bytes per body)")
bad("chunked-extension-no-name.http", post(CHUNKED, b"5;=x\r\nhello\r\n0\r\n\r\n"), "RFC 9112 §7.1.1 chunk-ext-name is a token")
bad("chunked-extension-unterminated-quote.http", post(CHUNKED, b'5;a="open\r\nhello\r\n0\r\n\r\n'), "RFC 9110 §5.6.4 quoted-string must close")
bad("chunked-size-over-body-limit.http", post(CHUNKED, b"100001\r\n"), "RFC 9110 §15.5.14 413 before the chunk's data", status=413)
bad("chunked-trailer-obs-fold.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nX-A: b\r\n c\r\n\r\n"), "RFC 9112 §5.2 obs-fold: reject with 400")
bad("chunked-trailer-nul.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nX-A: \x00\r\n\r\n"), "RFC 9110 §5.5 NUL in a field value: MUST reject or replace")
bad("chunked-trailer-space-before-colon.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nX-A : b\r\n\r\n"), "RFC 9112 §5.1 whitespace before ':' MUST be rejected with 400")
bad("chunked-trailer-too-large.http", post(CHUNKED, b"5\r\nhello\r\n0\r\n" + b"".join(b"X-T%02d: " % i + b"t" * 500 + b"\r\n" for i in range(40)) + b"\r\n"),
    "RFC 6585 §5 431: trailer section over 16 KiB", status=431)

# ---- Line endings, folding, control characters ----------------------------------------------
bad("bare-lf-request-line.http", b"GET / HTTP/1.1\nHost: example.com\n\n", "RFC 9112 §2.2 bare LF MAY be accepted; we reject (policy, agrees with strict proxies)")
bad("bare-lf-header-line.http", b"GET / HTTP/1.1\r\nHost: example.com\n\r\n", "RFC 9112 §2.2 bare LF MAY be accepted; we reject (policy)")
bad("bare-lf-end-of-head.http", b"GET / HTTP/1.1\r\nHost: example.com\r\n\n", "RFC 9112 §2.2 bare LF MAY be accepted; we reject (policy)")
bad("bare-lf-inside-value.http", get(b"X-A: a\nb\r\n"), "RFC 9110 §5.5 LF in a value: MUST reject or replace")
bad("bare-cr-request-line.http", b"GET / HTTP/1.1\rHost: example.com\r\n\r\n", "RFC 9112 §2.2 bare CR: MUST reject or replace with SP")
bad("bare-cr-header-value.http", get(b"X-A: a\rb\r\n"), "RFC 9112 §2.2 bare CR: MUST reject or replace with SP")
bad("bare-cr-header-name.http", get(b"X\r-A: b\r\n"), "RFC 9112 §2.2 bare CR: MUST reject or replace with SP")
bad("obs-fold-space.http", get(b"X-A: a\r\n b\r\n"), "RFC 9112 §5.2 obs-fold: reject with 400")
bad("obs-fold-tab.http", get(b"X-A: a\r\n\tb\r\n"), "RFC 9112 §5.2 obs-fold: reject with 400")
bad("obs-fold-first-field.http", b"GET / HTTP/1.1\r\n Host: example.com\r\n\r\n", "RFC 9112 §2.2 whitespace-led line after the request line: reject")
bad("header-space-before-colon.http", b"GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", "RFC 9112 §5.1 whitespace before ':' MUST be rejected with 400")
bad("header-no-colon.http", get(b"NoColonHere\r\n"), "RFC 9112 §5 field-line = field-name \":\" OWS field-value OWS")
bad("header-empty-name.http", get(b": value\r\n"), "RFC 9110 §5.1 field-name is a token (non-empty)")
bad("header-name-nul.http", get(b"X-\x00A: b\r\n"), "RFC 9110 §5.1 field-name is a token")
bad("header-name-non-token.http", get(b"X(A): b\r\n"), "RFC 9110 §5.1 field-name is a token")
bad("header-name-slash.http", get(b"X/A: b\r\n"), "RFC 9110 §5.1 field-name is a token")
bad("header-name-utf8.http", get(b"\xc3\x84rger: b\r\n"), "RFC 9110 §5.1 field-name is a token")
bad("header-value-nul.http", get(b"X-A: a\x00b\r\n"), "RFC 9110 §5.5 NUL: MUST reject or replace with SP")
bad("header-value-vtab.http", get(b"X-A: a\x0bb\r\n"), "RFC 9110 §5.5 CTL in a field value: reject")
bad("header-value-formfeed.http", get(b"X-A: a\x0cb\r\n"), "RFC 9110 §5.5 CTL in a field value: reject")
bad("header-value-escape.http", get(b"X-A: \x1b[31mred\r\n"), "RFC 9110 §5.5 CTL in a field value: reject")
bad("header-value-del.http", get(b"X-A: a\x7fb\r\n"), "RFC 9110 §5.5 DEL in a field value: reject")
bad("host-missing.http", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "RFC 9112 §3.2 HTTP/1.1 without Host: MUST 400")
bad("host-duplicate.http", b"GET / HTTP/1.1\r\nHost: example.com\r\nHost: other.example\r\n\r\n", "RFC 9112 §3.2 more than one Host: MUST 400")
bad("host-userinfo.http", b"GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", "RFC 9112 §3.2 invalid Host: MUST 400")
bad("host-with-path.http", b"GET / HTTP/1.1\r\nHost: example.com/evil\r\n\r\n", "RFC 9112 §3.2 invalid Host: MUST 400")
bad("too-many-empty-lines-before-request.http", b"\r\n" * 5 + get(), "RFC 9112 §2.2 SHOULD ignore at least one; we allow 4 (policy)")
bad("nul-request-line.http", b"\x00" * 64 + b"\r\n" + HOST + b"\r\n", "RFC 9112 §3 request-line = method SP request-target SP HTTP-version")

# ---- Request line: methods, targets, versions -------------------------------------------------
LINE = "RFC 9112 §3 request-line = method SP request-target SP HTTP-version"
TARGET = "RFC 9112 §3.2 invalid request-target: 400"
bad("method-invalid-char.http", get().replace(b"GET", b"G(T", 1), "RFC 9110 §9.1 method is a token")
bad("method-nul.http", get().replace(b"GET", b"G\x00T", 1), "RFC 9110 §9.1 method is a token")
bad("method-utf8.http", get().replace(b"GET", b"G\xc3\x89T", 1), "RFC 9110 §9.1 method is a token")
bad("method-empty.http", b" / HTTP/1.1\r\n" + HOST + b"\r\n", LINE)
bad("request-line-double-space.http", b"GET  / HTTP/1.1\r\n" + HOST + b"\r\n", LINE + " (single SP; we do not use the lenient whitespace parse of §3)")
bad("request-line-tab-separators.http", b"GET\t/\tHTTP/1.1\r\n" + HOST + b"\r\n", LINE)
bad("request-line-trailing-space.http", b"GET / HTTP/1.1 \r\n" + HOST + b"\r\n", LINE)
bad("request-line-leading-space.http", b" GET / HTTP/1.1\r\n" + HOST + b"\r\n", LINE)
bad("request-line-space-in-target.http", b"GET /a b HTTP/1.1\r\n" + HOST + b"\r\n", LINE)
bad("target-relative.http", get(target=b"index.html"), TARGET)
bad("target-fragment.http", get(target=b"/page#frag"), TARGET + " (fragments are not sent)")
bad("target-bad-percent.http", get(target=b"/%zz"), TARGET + " (pct-encoded = % HEXDIG HEXDIG)")
bad("target-nul.http", get(target=b"/\x00"), TARGET)
bad("target-del.http", get(target=b"/\x7f"), TARGET)
bad("target-non-ascii.http", get(target=b"/caf\xc3\xa9"), TARGET + " (RFC 3986 characters only)")
bad("target-backslash.http", get(target=b"/a\\b"), TARGET)
bad("target-asterisk-for-get.http", get(target=b"*"), "RFC 9112 §3.2.4 asterisk-form only for OPTIONS")
bad("target-absolute-userinfo.http", get(target=b"http://user@example.com/"), "RFC 9110 §4.2.4 userinfo MUST be treated as an error")
bad("target-absolute-no-authority.http", get(target=b"http:///"), TARGET)
bad("target-authority-form-connect.http", b"CONNECT example.com:443 HTTP/1.1\r\n" + HOST + b"\r\n", "RFC 9112 §3.2.3 authority-form is for proxies: 400")
bad("version-lowercase.http", get(version=b"http/1.1"), "RFC 9112 §2.3 HTTP-version is case-sensitive")
bad("version-two-digit-major.http", get(version=b"HTTP/11.1"), "RFC 9112 §2.3 HTTP-version = HTTP/DIGIT.DIGIT")
bad("version-missing-minor.http", get(version=b"HTTP/1"), "RFC 9112 §2.3 HTTP-version = HTTP/DIGIT.DIGIT")
bad("version-extra-dot.http", get(version=b"HTTP/1.1.1"), "RFC 9112 §2.3 HTTP-version = HTTP/DIGIT.DIGIT")
bad("version-http2.http", get(version=b"HTTP/2.0"), "RFC 9110 §15.6.6 505: major version not supported", status=505)
bad("version-http3.http", get(version=b"HTTP/3.0"), "RFC 9110 §15.6.6 505: major version not supported", status=505)
bad("version-http09-explicit.http", get(version=b"HTTP/0.9"), "RFC 9110 §15.6.6 505: major version not supported", status=505)
bad("http09-request-line.http", b"GET /\r\n", "RFC 9112 §3 no HTTP/0.9: a request line needs a version")
bad("http2-preface.http", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "RFC 9113 §3.4 preface to an HTTP/1.1-only server: 505", status=505)
bad("http2-preface-with-settings.http", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", "RFC 9113 §3.4 preface to an HTTP/1.1-only server: 505", status=505)

# ---- Limits ---------------------------------------------------------------------------------
bad("request-line-too-long.http", get(target=b"/" + b"a" * 9000), "RFC 9112 §3 414 past our 8 KiB request line", status=414)
bad("request-line-too-long-unterminated.http", b"GET /" + b"a" * 9000, "RFC 9112 §3 414 as soon as 8 KiB are buffered without CRLF", status=414)
bad("header-section-too-large.http", get(b"".join(b"X-Pad-%02d: " % i + b"p" * 500 + b"\r\n" for i in range(40))),
    "RFC 6585 §5 431: header section over our 16 KiB", status=431)
bad("header-field-too-large.http", get(b"X-Huge: " + b"h" * 17000 + b"\r\n"), "RFC 6585 §5 431: one field over the 16 KiB section", status=431)
bad("header-count-too-many.http", get(b"".join(b"X-F%02d: v\r\n" % i for i in range(64))), "RFC 6585 §5 431: more than 64 fields", status=431)
bad("body-too-large-content-length.http", post(b"Content-Length: 2000000\r\n"), "RFC 9110 §15.5.14 413 before the body is read", status=413)
bad("body-too-large-with-partial-body.http", post(b"Content-Length: 2000000\r\n", b"x" * 1000), "RFC 9110 §15.5.14 413 without draining the body", status=413)
bad("body-too-large-expect-continue.http", post(b"Expect: 100-continue\r\nContent-Length: 2000000\r\n"), "RFC 9110 §10.1.1 final status instead of 100 Continue", status=413)
bad("expect-unknown.http", get(b"Expect: 200-ok\r\n"), "RFC 9110 §10.1.1 unknown expectation: MAY 417", status=417)

# ---- Incomplete requests: nothing handled, closed without an answer -----------------------------
INCOMPLETE = "RFC 9112 §6.3/§8 incomplete message: not processed, connection closed"


def incomplete(name, data, client="shutdown"):
    case(name, data, "close", "yes", client, INCOMPLETE)


incomplete("truncated-request-line.http", b"GET /ind")
incomplete("truncated-head.http", b"POST /webhooks/xero HTTP/1.1\r\n" + HOST + b"Content-Le")
incomplete("truncated-body-content-length.http", post(b"Content-Length: 100\r\n", b"only ten b"))
incomplete("truncated-chunked-data.http", post(CHUNKED, b"a\r\nhel"))
incomplete("truncated-chunked-before-last-chunk.http", post(CHUNKED, b"5\r\nhello\r\n"))
incomplete("truncated-chunked-no-final-crlf.http", post(CHUNKED, b"5\r\nhello\r\n0\r\n"))
incomplete("truncated-trailer.http", post(CHUNKED, b"5\r\nhello\r\n0\r\nX-A: b\r\n"))
incomplete("truncated-tls-client-hello.http",
    bytes.fromhex("16030100a5010000a10303") + bytes(range(0x20, 0x40)) + b"\x00\x00\x20\xc0\x2b\xc0\x2f\x00\x9e" + b"\x00" * 24)
incomplete("reset-mid-head.http", b"POST /webhooks/xero HTTP/1.1\r\n" + HOST + b"Content-Type: application/js", client="reset")
incomplete("reset-mid-body.http", post(b"Content-Length: 399\r\n", b'{"events":[{"resourceUrl":'), client="reset")
incomplete("reset-mid-chunked.http", post(CHUNKED, b"10\r\n0123456789"), client="reset")


def main():
    for name in os.listdir(HERE):
        if name.endswith(".http"):
            os.remove(os.path.join(HERE, name))
    with open(os.path.join(HERE, "expected.tsv"), "w") as manifest:
        manifest.write("# Generated by generate.py; see its header for the columns.\n")
        manifest.write("file\tstatus\tclosed\tclient\treason\n")
        for name, data, status, closed, client, reason in CASES:
            with open(os.path.join(HERE, name), "wb") as f:
                f.write(data)
            manifest.write(f"{name}\t{status}\t{closed}\t{client}\t{reason}\n")
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
