#!/usr/bin/env python3
"""Replays Tests/Fixtures/http-corpus against a server on 127.0.0.1, and compares results.

    corpus-replay.py replay PORT > results.tsv
        For each case of expected.tsv: connect, send the file's exact bytes, end as the
        manifest's client column says (wait / shutdown / reset), and record the first final
        status (1xx skipped), `close` (closed without an answer), `timeout` (no answer within
        3 s), `0.9` (an answer without a status line) or `-` (reset cases: nothing to read),
        and whether the server closed the connection within 0.3 s of its answer.
    corpus-replay.py report OURS.tsv NGINX.tsv NGINX_VERSION COMMAND > corpus-vs-nginx.md
"""
import os
import socket
import struct
import sys
import time

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "http-corpus")
# What the daemon's router answers to a request the HTTP layer accepted: 404 for paths it does
# not serve, 405 for a GET on the webhook path, 401 for an unsigned POST to it.
HANDLED = {"401", "404", "405"}


def manifest():
    with open(os.path.join(CORPUS, "expected.tsv")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    header, rows = rows[0], rows[1:]
    return [dict(zip(header, row)) for row in rows]


def replay_one(port, data, client, timeout=3.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything
        if client == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return "-", "-"
        if client == "shutdown":
            s.shutdown(socket.SHUT_WR)
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            end = buf.find(b"\r\n\r\n")
            if buf.startswith(b"HTTP/") and end >= 0:
                status = buf[9:12].decode("ascii", "replace")
                if status.startswith("1"):
                    buf = buf[end + 4:]
                    continue
                break
            if len(buf) >= 5 and not buf.startswith(b"HTTP/"):
                return "0.9", closed_after(s, b"")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", "no"
            s.settimeout(remaining)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return "timeout", "no"
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return ("close" if not buf else "0.9"), "yes"
            buf += chunk
        head, body = buf[:end].decode("latin-1"), buf[end + 4:]
        length = None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length is None:
            return status, closed_after(s, body, until_close=True)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                return status, "yes"
            body += chunk
        return status, closed_after(s, body[length:])
    finally:
        s.close()


def closed_after(s, extra, until_close=False):
    """yes when the server closes within 0.3 s of its answer (or, without a length, at all)."""
    if extra:
        return "no"
    s.settimeout(3.0 if until_close else 0.3)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return "yes"
            if not until_close:
                return "no"
    except socket.timeout:
        return "no"
    except ConnectionResetError:
        return "yes"


def replay(port):
    print("file\tstatus\tclosed")
    for case in manifest():
        with open(os.path.join(CORPUS, case["file"]), "rb") as f:
            data = f.read()
        status, closed = replay_one(port, data, case["client"])
        print(f"{case['file']}\t{status}\t{closed}", flush=True)


def load(path):
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return {row[0]: (row[1], row[2]) for row in rows}


def outcome(status, closed):
    if status in ("close", "-", "timeout", "0.9"):
        return {"close": "closed, no answer", "-": "-", "timeout": "no answer in 3 s", "0.9": "HTTP/0.9 answer"}[status]
    return status + (" + close" if closed == "yes" else "")


def report(ours_path, nginx_path, nginx_version, command):
    cases = manifest()
    ours, nginx = load(ours_path), load(nginx_path)
    rows, differences, closing, daemon_mismatches = [], [], [], []
    for case in cases:
        name = case["file"]
        expected = (case["status"], case["closed"] if case["client"] == "wait" else "-")
        if case["client"] == "shutdown":
            expected = (case["status"], "yes")
        if case["client"] == "reset":
            expected = ("-", "-")
        daemon = ours.get(name, ("missing", "-"))
        theirs = nginx.get(name, ("missing", "-"))
        # The daemon's router answers what the HTTP layer accepted; count that as 200.
        daemon_as_server = ("200", daemon[1]) if daemon[0] in HANDLED else daemon
        if daemon_as_server != expected:
            daemon_mismatches.append(name)
        same = theirs == expected
        if theirs[0] != expected[0]:
            differences.append((name, expected, theirs, case["reason"]))
        elif not same:
            closing.append((name, expected, theirs))
        daemon_text = outcome(*daemon) + (" (handled)" if daemon[0] in HANDLED else "")
        rows.append(f"| `{name}` | {outcome(*expected)} | {daemon_text} | {outcome(*theirs)} | {'' if same else '≠'} |")

    out = []
    out.append("# Hostile request corpus: xero-webhookd vs nginx")
    out.append("")
    out.append(f"{time.strftime('%Y-%m-%d', time.gmtime())}, nginx {nginx_version} (Debian nginx-light: a server that reads the whole "
               f"request, body included, and proxies it to a `return 200` server), "
               f"xero-webhookd release build with default limits. Command: `{command}`.")
    out.append("")
    out.append(f"{len(cases)} cases from `Tests/Fixtures/http-corpus` (see `generate.py` there); "
               f"{len(differences)} get another status from nginx, {len(closing)} only close differently; "
               f"the daemon differs from the manifest in "
               f"{len(daemon_mismatches)}{': ' + ', '.join(daemon_mismatches) if daemon_mismatches else ''}.")
    out.append("")
    out.append("- **expected**: the manifest, which `HostileCorpusTests` checks against a live `HTTPServer` whose handler answers 200.")
    out.append("- **xero-webhookd**: the daemon itself; a request its HTTP layer accepts reaches the router, which answers "
               "404 (unknown path), 405 or 401 (the webhook path without a signature): shown as *handled*.")
    out.append("- `+ close`: the server closed the connection within 0.3 s of its answer. Reset cases end with the "
               "client's RST, so there is nothing to compare (`-`).")
    out.append("")
    out.append("| case | expected | xero-webhookd | nginx | |")
    out.append("|---|---|---|---|---|")
    out.extend(rows)
    out.append("")
    out.append("## Every status difference, and the rule we follow")
    out.append("")
    for name, expected, theirs, reason in differences:
        out.append(f"- `{name}`: ours **{outcome(*expected)}**, nginx {outcome(*theirs)}. {reason}.")
    if closing:
        out.append("")
        out.append("## Same status, different closing")
        out.append("")
        out.append("We close as soon as an error answer is written (RFC 9112 §6.3 and §9.6; RFC 9110 §15.5.14 lets a "
                   "server close after 413). nginx answers, then keeps reading and discarding for up to "
                   "`lingering_timeout` (5 s) before it closes, so its close comes later than the 0.3 s this "
                   "replay waits:")
        out.append("")
        for name, expected, theirs in closing:
            out.append(f"- `{name}`: ours {outcome(*expected)}, nginx {outcome(*theirs)}.")
    print("\n".join(out))


if __name__ == "__main__":
    if sys.argv[1] == "replay":
        replay(int(sys.argv[2]))
    elif sys.argv[1] == "report":
        report(*sys.argv[2:6])
    else:
        sys.exit(__doc__)
