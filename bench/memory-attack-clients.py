#!/usr/bin/env python3
"""Unauthenticated clients that try to make xero-webhookd hold memory (bench/memory-attack.sh).

  memory-attack-clients.py pipeline PORT SECONDS OUT.json
      One connection: pipelined `GET /healthz` sent as fast as the socket takes them while a
      second thread reads the answers.
  memory-attack-clients.py silent PORT CONNECTIONS SECONDS OUT.json
      CONNECTIONS connections that never send a byte; each one the server closes is opened again.
  memory-attack-clients.py bodies PORT CONNECTIONS SECONDS OUT.json
      CONNECTIONS connections, each sending a head announcing a 1 MiB body and then one byte
      short of it, and waiting; each one the server answers or closes is opened again.

Each writes a JSON summary (what was sent, how the server answered) and stops by itself.
"""
import json
import selectors
import socket
import sys
import threading
import time


def pipeline(port, seconds, path):
    sock = socket.create_connection(("127.0.0.1", port))
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 1000
    stop = time.monotonic() + seconds
    received = [0]

    def reader():
        while time.monotonic() < stop:
            try:
                data = sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            received[0] += len(data)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    sock.settimeout(1)
    sent = 0
    while time.monotonic() < stop:
        try:
            sent += sock.send(request)
        except socket.timeout:
            continue
        except OSError:
            break
    thread.join(timeout=2)
    sock.close()
    with open(path, "w") as f:
        json.dump({"sent_bytes": sent, "received_bytes": received[0],
                   "requests_sent": sent // len(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")}, f)


def silent(port, connections, seconds, path):
    selector = selectors.DefaultSelector()
    opened = closed_by_server = errors = 0
    lifetimes = []

    def open_one():
        nonlocal opened, errors
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            errors += 1
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, time.monotonic())
        opened += 1

    for _ in range(connections):
        open_one()
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                lifetimes.append(time.monotonic() - key.data)
                selector.unregister(sock)
                sock.close()
                closed_by_server += 1
                open_one()
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    lifetimes.sort()
    with open(path, "w") as f:
        json.dump({"opened": opened, "closed_by_server": closed_by_server, "errors": errors,
                   "median_lifetime_s": lifetimes[len(lifetimes) // 2] if lifetimes else None}, f)


def bodies(port, connections, seconds, path):
    head = b"POST /webhooks/xero HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
           b"x-xero-signature: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nContent-Length: 1048576\r\n\r\n"
    body = b"{" + b" " * (1048576 - 2)  # one byte short
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    counts = {}

    def count(what):
        with lock:
            counts[what] = counts.get(what, 0) + 1

    def one_client():
        while time.monotonic() < stop:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                count("connect failed")
                time.sleep(0.1)
                continue
            try:
                sock.settimeout(max(0.5, stop - time.monotonic()))
                sock.sendall(head + body)
                count("bodies sent")
                answer = sock.recv(64)
                count(answer[9:12].decode() if answer.startswith(b"HTTP/1.1 ") else "closed")
            except socket.timeout:
                count("held to the end")
            except OSError:
                count("refused while sending")
            finally:
                sock.close()

    threads = [threading.Thread(target=one_client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 10)
    with open(path, "w") as f:
        json.dump(counts, f)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "pipeline":
        pipeline(int(args[0]), float(args[1]), args[2])
    elif command == "silent":
        silent(int(args[0]), int(args[1]), float(args[2]), args[3])
    elif command == "bodies":
        bodies(int(args[0]), int(args[1]), float(args[2]), args[3])
    else:
        sys.exit(__doc__)
