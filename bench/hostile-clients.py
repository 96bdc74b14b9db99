#!/usr/bin/env python3
"""Hostile and well-behaved HTTP clients for bench/hostile.sh (standard library only).

    hostile-clients.py [--tls] COMMAND ...
        --tls: the server is the daemon with listen.tls (any certificate; clients do not verify
        it, but send SNI "localhost" and ALPN http/1.1). Every command below then speaks HTTPS,
        and `flood` uses the TLS kinds.
    hostile-clients.py flood PORT CONNECTIONS SECONDS STATS.json
        Holds CONNECTIONS hostile connections for SECONDS, an equal share of each kind,
        reconnecting whenever the server closes one:
          slowloris  sends a request head one byte every 2-4 s (never finishes it)
          slow-body  sends a complete signed head, then one body byte every 2-4 s
          idle       sends one GET /healthz, reads the answer, then stays silent
        With --tls instead:
          no-hello       opens TCP and never sends a ClientHello
          partial-hello  sends the first 1-64 bytes of a real ClientHello, then stalls
          hello-trickle  sends a real ClientHello one byte every 2-4 s (never finishes it)
          tls-slowloris, tls-slow-body, tls-idle  a completed handshake, then as above inside TLS
        Writes counts (connects, answers by status, closes, errors) to STATS.json, and at the end
        for each kind how long the server took to close it ("lifetimes", seconds: from the
        connect for the handshake kinds, the first head byte for slowloris, the complete head for
        slow-body, the answer for idle).
    hostile-clients.py hold PORT CONNECTIONS SECONDS STATS.json
        Opens CONNECTIONS connections that send nothing, holds them SECONDS, then closes them.
    hostile-clients.py measure PORT REQUESTS RATE RESULT.json
        A well-behaved client: REQUESTS signed POSTs at RATE per second, alternating between one
        kept-alive connection and a new connection per request; latency from the first byte
        sent to the last byte of the answer.
    hostile-clients.py vanish PORT CLIENTS RESULT.json
        CLIENTS clients that vanish mid-answer: half pipeline 50 GET /healthz and reset at once
        (RST), half half-close first and reset once the answer has started (the server's
        socket is then in CLOSE_WAIT and its next write fails with EPIPE).
"""
import asyncio
import json
import logging
import os
import random
import socket
import ssl
import struct
import sys
import time

# The signed Xero delivery of bench/signed-post.lua (key "ExampleSigningKey").
BODY = (b'{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",'
        b'"resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2024-06-21T01:15:39.902",'
        b'"eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",'
        b'"tenantType":"ORGANISATION"}],"lastEventSequence":1,"firstEventSequence":1,"entropy":"S0m3r4Nd0mt3xt"}')
SIGNATURE = b"rxukSF72k94Vtlu4EN6J7AjROQ8fQf4EluPFx0IgCJU="
SIGNED_HEAD = (b"POST /webhooks/xero HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json; charset=utf-8\r\n"
               b"x-xero-signature: " + SIGNATURE + b"\r\nContent-Length: %d\r\n\r\n" % len(BODY))
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def rst(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---- TLS ----------------------------------------------------------------------------------------

TLS = None  # the client context when --tls was given


def client_context():
    """Does not verify the (self-signed) certificate; SNI and ALPN as a browser or Xero sends them."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def client_hello():
    """The bytes of a real ClientHello from `TLS` (first flight, before any answer)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    session = TLS.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        session.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def connect(port, timeout=10):
    """A blocking connection, over TLS (handshake done) when --tls was given."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return TLS.wrap_socket(sock, server_hostname="localhost") if TLS else sock


# ---- flood ------------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.counts = {}
        self.open = 0
        self.peak_open = 0
        self.lifetimes = {}

    def add(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def lived(self, kind, seconds):
        self.lifetimes.setdefault(kind, []).append(seconds)

    def lifetime_summary(self):
        return {kind: {"count": len(v), "min": min(v), "p50": percentile(v, 50), "p99": percentile(v, 99), "max": max(v)}
                for kind, v in sorted(self.lifetimes.items())}


async def read_status(reader, timeout):
    """The status of the answer the server sends within `timeout`, 'closed', or None."""
    try:
        data = await asyncio.wait_for(reader.read(4096), timeout)
    except asyncio.TimeoutError:
        return None
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    except ssl.SSLError as error:
        return f"tls error {error.reason}"
    if not data:
        return "closed"
    return data[9:12].decode("ascii", "replace") if data.startswith(b"HTTP/") else "garbage"


async def hostile(kind, port, stop_at, stats):
    await asyncio.sleep(random.uniform(0, 3))  # spread the connects
    inside_tls = kind.startswith("tls-")
    base = kind.removeprefix("tls-")
    while time.monotonic() < stop_at:
        connected_at = time.monotonic()
        try:
            if inside_tls:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", port, ssl=TLS, server_hostname="localhost"), 30)
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except (OSError, asyncio.TimeoutError) as error:
            stats.add(f"{kind} connect error {getattr(error, 'reason', None) or error.errno or type(error).__name__}")
            await asyncio.sleep(1)
            continue
        stats.add(f"{kind} connects")
        stats.open += 1
        stats.peak_open = max(stats.peak_open, stats.open)
        clock = connected_at  # when the server's deadline for this connection starts
        try:
            if base == "slowloris" or kind == "hello-trickle":
                trickle = SIGNED_HEAD if base == "slowloris" else client_hello()
            elif base == "slow-body":
                writer.write(SIGNED_HEAD)
                trickle = BODY
                clock = time.monotonic()
            elif base == "idle":
                writer.write(HEALTHZ)
                trickle = b""
            elif kind == "partial-hello":
                writer.write(client_hello()[:random.randint(1, 64)])
                trickle = b""
            else:  # no-hello
                trickle = b""
            await writer.drain()
            outcome = None
            if base == "idle":
                outcome = await read_status(reader, 5)
                if outcome == "200":
                    stats.add(f"{kind} 200")
                    clock = time.monotonic()
                    outcome = await read_status(reader, max(0, stop_at - time.monotonic()))
            elif not trickle:
                outcome = await read_status(reader, max(0, stop_at - time.monotonic()))
            else:
                for i, byte in enumerate(trickle):
                    outcome = await read_status(reader, random.uniform(2, 4))
                    if outcome is not None or time.monotonic() >= stop_at:
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                    if i == 0 and base == "slowloris":
                        clock = time.monotonic()
            stats.add(f"{kind} ended by {outcome or 'client'}")
            if outcome is not None:
                stats.lived(kind, time.monotonic() - clock)
        except (ConnectionResetError, BrokenPipeError):
            stats.add(f"{kind} reset while writing")
        except OSError as error:
            stats.add(f"{kind} error while writing {getattr(error, 'reason', None) or error.errno}")
        finally:
            stats.open -= 1
            if inside_tls:
                writer.transport.abort()  # no close_notify exchange to wait for
            else:
                writer.close()


async def flood(port, connections, seconds, path):
    stats = Stats()
    stop_at = time.monotonic() + seconds
    if TLS:
        kinds = ["no-hello", "partial-hello", "hello-trickle", "tls-slowloris", "tls-slow-body", "tls-idle"]
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # no trace per aborted TLS transport
    else:
        kinds = ["slowloris", "slow-body", "idle"]
    tasks = [asyncio.create_task(hostile(kinds[i % len(kinds)], port, stop_at, stats)) for i in range(connections)]

    def write(final=False):
        # Replaced whole, so the script polling it never reads half a file.
        with open(path + ".tmp", "w") as f:
            json.dump({"open": stats.open, "peak_open": stats.peak_open, "counts": stats.counts,
                       "lifetimes": stats.lifetime_summary() if final else {}}, f)
        os.replace(path + ".tmp", path)

    async def report():
        while time.monotonic() < stop_at:
            write()
            await asyncio.sleep(0.5)

    reporter = asyncio.create_task(report())
    await asyncio.gather(*tasks)
    reporter.cancel()
    write(final=True)


# ---- hold ---------------------------------------------------------------------------------------

def hold(port, connections, seconds, path):
    sockets, errors = [], {}
    for _ in range(connections):
        s = socket.socket()
        s.setblocking(False)
        error = s.connect_ex(("127.0.0.1", port))
        if error not in (0, 115):  # EINPROGRESS
            errors[error] = errors.get(error, 0) + 1
        sockets.append(s)
    with open(path, "w") as f:
        json.dump({"opened": len(sockets), "errors": errors}, f)
    time.sleep(seconds)
    for s in sockets:
        s.close()


# ---- measure ------------------------------------------------------------------------------------

def read_answer(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before an answer")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside an answer")
        rest += chunk
    return int(head[9:12])


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else None


def measure(port, requests, rate, path):
    kept = None
    latencies = {"keep-alive": [], "new connection": []}
    handshakes = []  # connect and TLS handshake of the new connections (part of their latency)
    statuses, errors = {}, []
    start = time.monotonic()
    for i in range(requests):
        time.sleep(max(0, start + i / rate - time.monotonic()))
        mode = "keep-alive" if i % 2 == 0 else "new connection"
        t0 = time.perf_counter()
        try:
            if mode == "keep-alive":
                if kept is None:
                    kept = connect(port)
                sock = kept
            else:
                sock = connect(port)
                handshakes.append((time.perf_counter() - t0) * 1000)
            sock.sendall(SIGNED_HEAD + BODY)
            status = read_answer(sock)
            latencies[mode].append((time.perf_counter() - t0) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if mode == "new connection":
                sock.close()
        except OSError as error:
            errors.append(f"{mode}: {error}")
            if mode == "keep-alive":
                kept = None
    everything = latencies["keep-alive"] + latencies["new connection"]
    result = {"requests": requests, "statuses": statuses, "errors": errors}
    for name, values in list(latencies.items()) + [("all", everything), ("connect", handshakes)]:
        result[name] = {"count": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
                        "max_ms": max(values) if values else None}
    with open(path, "w") as f:
        json.dump(result, f)


# ---- vanish -------------------------------------------------------------------------------------

def vanish(port, clients, path):
    counts = {"reset at once": 0, "half-closed then reset": 0, "errors": 0}
    for i in range(clients):
        try:
            s = connect(port)
            if i % 2 == 0:
                s.sendall(HEALTHZ * 50)
                rst(s)
                counts["reset at once"] += 1
            else:
                s.sendall(HEALTHZ * 50)
                # (A TLS socket forgets its session here: recv then reads ciphertext, which is
                # enough to see that the answers started.)
                s.shutdown(socket.SHUT_WR)
                s.recv(1)  # the answers have started
                rst(s)
                counts["half-closed then reset"] += 1
            s.close()
        except OSError:
            counts["errors"] += 1
    with open(path, "w") as f:
        json.dump(counts, f)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--tls"]:
        TLS = client_context()
        del sys.argv[1]
    command, args = sys.argv[1], sys.argv[2:]
    if command == "flood":
        asyncio.run(flood(int(args[0]), int(args[1]), float(args[2]), args[3]))
    elif command == "hold":
        hold(int(args[0]), int(args[1]), float(args[2]), args[3])
    elif command == "measure":
        measure(int(args[0]), int(args[1]), float(args[2]), args[3])
    elif command == "vanish":
        vanish(int(args[0]), int(args[1]), args[2])
    else:
        sys.exit(__doc__)
