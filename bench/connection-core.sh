#!/usr/bin/env bash
# The receive path's cost per request, for one or more builds of the daemon, alternating runs so
# that the machine's drift hits each alike: wrk -t1 with the signed 399-byte delivery of
# bench/signed-post.lua, state on the real disk (every 200 after an fdatasync), and
# `perf stat -e context-switches,task-clock` on the daemon during each run.
# Prints, per run: requests/s, p50 and p99 ms, context switches and daemon CPU µs per request,
# and peak RSS.
#
#   bench/connection-core.sh [-d seconds] [-c connections] [-r rounds] BINARY...
#
# e.g. bench/connection-core.sh -c 32 -r 3 /tmp/before/xero-webhookd .build/release/xero-webhookd
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10 connections=32 rounds=2
while getopts d:c:r: option; do
  case $option in d) duration=$OPTARG ;; c) connections=$OPTARG ;; r) rounds=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: bench/connection-core.sh [-d s] [-c n] [-r rounds] BINARY..." >&2; exit 2; }
command -v wrk >/dev/null && command -v perf >/dev/null || { echo "needs wrk and perf (linux-perf)" >&2; exit 1; }
mkdir -p .build
work=$(mktemp -d "$PWD/.build/connection-core-XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

printf '%-40s %5s %9s %8s %8s %8s %9s %8s\n' binary round "req/s" "p50 ms" "p99 ms" "cs/req" "CPU µs" "RSS MiB"
for round in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    rm -rf "$work/state"; mkdir -p "$work/state"
    port=$(free_port)
    printf '{"stateDirectory": "%s/state", "listen": {"port": %s}, "limits": {"maxConnections": 4096}}\n' "$work" "$port" >"$work/config.json"
    PAN_SEC_XERO_WEBHOOK_KEY=ExampleSigningKey "$bin" serve --config "$work/config.json" 2>"$work/stderr" &
    pid=$!
    wait_port "$port"
    perf stat -e context-switches,task-clock -x, -o "$work/perf" -p "$pid" &
    perf_pid=$!
    out=$(wrk -t1 -c"$connections" -d"${duration}s" --latency -s bench/signed-post.lua "http://127.0.0.1:$port" 2>&1)
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
    rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true; pid=
    requests=$(awk '/^requests/ {print $2}' <<<"$out")
    switches=$(awk -F, '/context-switches/ {print $1}' "$work/perf")
    clock=$(awk -F, '/task-clock/ {print $1}' "$work/perf")  # milliseconds
    printf '%-40s %5s %9s %8s %8s %8.2f %9.1f %8s\n' "$bin" "$round" \
      "$(awk '/^rps/ {print $2}' <<<"$out")" "$(awk '/^p50_ms/ {print $2}' <<<"$out")" "$(awk '/^p99_ms/ {print $2}' <<<"$out")" \
      "$(awk -v s="$switches" -v r="$requests" 'BEGIN {print s / r}')" "$(awk -v c="$clock" -v r="$requests" 'BEGIN {print c * 1000 / r}')" "$rss"
  done
done
