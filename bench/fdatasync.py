#!/usr/bin/env python3
"""One fdatasync of a 420-byte append (the size of a queued delivery record) into zero-filled,
synced space of a file in DIRECTORY (as the queue prepares its segments), N times in a row: the
floor under any durable answer on that disk.
Prints p50, p90 and p99 in ms.

    bench/fdatasync.py DIRECTORY [N]
"""
import os
import statistics
import sys
import time

directory = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
path = os.path.join(directory, "fdatasync-probe")
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
try:
    os.pwrite(fd, bytes(4 << 20), 0)
    os.fsync(fd)
    record = b"x" * 420
    times = []
    for i in range(count):
        os.pwrite(fd, record, i * len(record))
        started = time.perf_counter_ns()
        os.fdatasync(fd)
        times.append((time.perf_counter_ns() - started) / 1e6)
    times.sort()
    def pick(q):
        return times[min(len(times) - 1, int(q * len(times)))]
    print(f"p50_ms {pick(0.50):.3f}")
    print(f"p90_ms {pick(0.90):.3f}")
    print(f"p99_ms {pick(0.99):.3f}")
finally:
    os.close(fd)
    os.unlink(path)
