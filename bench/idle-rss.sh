#!/usr/bin/env bash
# Usage: bench/idle-rss.sh BINARY CONFIG — starts `BINARY serve` with CONFIG on a free loopback port,
# waits for the listening line, lets it idle 3 s, prints VmRSS (kB) from /proc/PID/status.
set -euo pipefail
bin=$1 config=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
PAN_SEC_XERO_WEBHOOK_KEY=idle-rss-key-0123456789 "$bin" serve --config "$config" --listen 127.0.0.1:0 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q ' listening ' "$work/log" && break; sleep 0.1; done
sleep 3
grep VmRSS /proc/$pid/status | awk '{print $2}'
kill -TERM $pid; wait $pid || true
