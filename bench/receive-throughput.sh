#!/usr/bin/env bash
# Durable receive throughput: signed 399-byte Xero deliveries POSTed by wrk over keep-alive
# connections to a release build on 127.0.0.1, state directory on the real disk (every 200 is
# fdatasynced first). For each connection count it starts a fresh daemon, runs wrk, stops the
# daemon with SIGTERM and reads its "queue closed" line for the number of fdatasyncs. Prints
# requests/s, p50/p99 latency, fsyncs, events per fsync and peak RSS, and appends the table to
# bench/results/receive-throughput.md.
#
#   bench/receive-throughput.sh [duration-seconds] [connections...]
#   e.g. bench/receive-throughput.sh 10 1 32 256
#   BENCH_STATE_PARENT=/dev/shm bench/receive-throughput.sh 10 32   # state on tmpfs
#   BENCH_TLS=1 bench/receive-throughput.sh 10 32      # native TLS (RSA 2048 certificate made here)
#   BENCH_TLS=ec bench/receive-throughput.sh 10 32     # native TLS with an ECDSA P-256 certificate
#   BENCH_TLS=1 BENCH_CLOSE=1 bench/receive-throughput.sh 10 32   # a new TLS connection per request
set -euo pipefail
load_start=$(cut -d" " -f1-3 /proc/loadavg)
cd "$(dirname "$0")/.."
duration=${1:-10}
shift || true
connections=("${@:-32}")
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

swift build -c release --product xero-webhookd >/dev/null
bin=$(swift build -c release --show-bin-path)/xero-webhookd
mkdir -p .build bench/results
work=$(mktemp -d "${BENCH_STATE_PARENT:-$PWD/.build}/bench-XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fs=$(df --output=fstype "$work" | tail -1)
scheme=http tls_config= wrk_extra=() mode=""
if [ -n "${BENCH_TLS:-}" ]; then
  # A self-signed certificate for localhost: RSA 2048, or ECDSA P-256 (certbot's default key).
  key_type=(-newkey rsa:2048) key_name="RSA 2048"
  [ "$BENCH_TLS" = ec ] && key_type=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) key_name="ECDSA P-256"
  openssl req -x509 "${key_type[@]}" -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  scheme=https
  tls_config=", \"tls\": {\"certificateChainFile\": \"$work/cert.pem\", \"privateKeyFile\": \"$work/key.pem\"}"
  mode=", native TLS ($key_name)"
fi
if [ -n "${BENCH_CLOSE:-}" ]; then
  wrk_extra=(-H "Connection: close")
  mode="$mode, one connection per request"
fi

results=bench/results/receive-throughput.md
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, state on $fs$mode, wrk -t2 (-t1 for 1 connection), ${duration}s per row, load average at start: $load_start"
  echo
  echo "Command: \`${BENCH_STATE_PARENT:+BENCH_STATE_PARENT=$BENCH_STATE_PARENT }${BENCH_TLS:+BENCH_TLS=$BENCH_TLS }${BENCH_CLOSE:+BENCH_CLOSE=1 }bench/receive-throughput.sh $duration ${connections[*]}\`"
  echo
  echo "| connections | requests/s (all 200) | p50 ms | p99 ms | non-200 / socket errors | fdatasyncs/s | events per fdatasync | peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|---|"
} | tee -a "$results"
for c in "${connections[@]}"; do
  rm -rf "$work/state"
  printf '{"stateDirectory": "%s/state", "listen": {"port": 0}, "limits": {"maxConnections": 4096}, "log": {"level": "info"}}\n' "$work" >"$work/config.json"
  [ -z "$tls_config" ] || sed -i "s|\"listen\": {\"port\": 0}|\"listen\": {\"port\": 0$tls_config}|" "$work/config.json"
  PAN_SEC_XERO_WEBHOOK_KEY=ExampleSigningKey "$bin" serve --config "$work/config.json" 2>"$work/stderr" &
  pid=$!
  for _ in $(seq 1 200); do grep -q ' listening ' "$work/stderr" 2>/dev/null && break; sleep 0.05; done
  port=$(grep -o 'address=[^ ]*' "$work/stderr" | head -1 | sed 's/.*://')
  threads=$(( c < 2 ? c : 2 ))
  out=$(wrk -t"$threads" -c"$c" -d"${duration}s" --latency "${wrk_extra[@]}" -s bench/signed-post.lua "$scheme://127.0.0.1:$port" 2>&1)
  rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status)
  kill -TERM "$pid"; wait "$pid"; pid=
  rps=$(awk '/^rps/ {print $2}' <<<"$out")
  p50=$(awk '/^p50_ms/ {print $2}' <<<"$out")
  p99=$(awk '/^p99_ms/ {print $2}' <<<"$out")
  errors=$(awk '/^errors/ {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  syncs=$(grep -o 'syncs=[0-9]*' "$work/stderr" | tail -1 | cut -d= -f2)
  records=$(grep -o 'records=[0-9]*' "$work/stderr" | tail -1 | cut -d= -f2)
  per_sync=$(awk -v r="$records" -v s="$syncs" 'BEGIN { if (s > 0) printf "%.1f", r / s; else print "-" }')
  syncs_per_s=$(awk -v s="$syncs" -v d="$duration" 'BEGIN { printf "%.0f", s / d }')
  echo "| $c | $rps | $p50 | $p99 | ${non2xx:-0} / $errors | $syncs_per_s | $per_sync | $rss |" | tee -a "$results"
done
