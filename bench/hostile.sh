#!/usr/bin/env bash
# Slow and greedy clients against a release build of xero-webhookd on 127.0.0.1 (port 0, state
# in a temporary directory), in two runs, and bench/results/hostile.md with the figures:
#
# 1. Flood: 2,000 hostile connections (slowloris heads, slow bodies, idle keep-alive; see
#    bench/hostile-clients.py) with limits.maxConnections 4096 and `ulimit -n` 8192. Meanwhile a
#    well-behaved client sends signed POSTs (every answer must be 200; target p99 < 100 ms), and
#    then clients vanish mid-answer (RST). The daemon must still answer /healthz at the end and
#    exit 0 on SIGTERM.
# 2. EMFILE: `ulimit -n` 256 and 600 idle connections. The daemon must back off (it pauses
#    accepting for 100 ms after each EMFILE) instead of spinning: its CPU use is read from
#    /proc/PID/stat. Once the connections close it must serve again.
#
# BENCH_TLS=1: the same flood against native TLS (listen.tls with a self-signed certificate for
# localhost made here by `openssl req`, an ECDSA P-256 key, or RSA 2048 with TLS_KEY=rsa). The
# hostile connections are then six kinds, an equal share each: TCP without a ClientHello, the
# first 1-64 bytes of a ClientHello and then nothing, a ClientHello trickled a byte every 2-4 s
# (the handshake deadline is limits.headTimeoutMilliseconds from the connect), and after a
# completed handshake slowloris heads, slow bodies and idle keep-alive inside TLS. The
# well-behaved client posts over TLS, alternating between one kept-alive connection and a new
# connection with its own handshake per request; the vanishing clients speak TLS too. The
# daemon's CPU is also sampled every second over the flood, and its log is counted (deadline
# closes per phase, `tls failed` reasons, anything at warning or above). Run 2 (EMFILE) is
# skipped: accept back-off happens before TLS starts, the plain run covers it.
#
#   bench/hostile.sh
#   BENCH_TLS=1 bench/hostile.sh
#   SCRATCH_PATH=.build-other bench/hostile.sh    # another build folder (default .build)
# Environment: FLOOD_CONNECTIONS (2000), REQUESTS (600), RATE (20 per second),
# EMFILE_LIMIT (256), EMFILE_CONNECTIONS (600), BENCH_TLS (0), TLS_KEY (ec or rsa). Stops by
# itself in about two minutes.
set -euo pipefail
load_start=$(cut -d" " -f1-3 /proc/loadavg)
cd "$(dirname "$0")/.."
scratch=${SCRATCH_PATH:-.build}
flood_connections=${FLOOD_CONNECTIONS:-2000}
requests=${REQUESTS:-600}
rate=${RATE:-20}
emfile_limit=${EMFILE_LIMIT:-256}
emfile_connections=${EMFILE_CONNECTIONS:-600}
bench_tls=${BENCH_TLS:-0}
tls_key=${TLS_KEY:-ec}
[ "$bench_tls" = 1 ] && tls_flag=--tls || tls_flag=
ulimit -n 8192  # the flood client's own sockets

swift build -c release --product xero-webhookd --scratch-path "$scratch" >/dev/null
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/xero-webhookd
mkdir -p .build bench/results
work=$(mktemp -d "$PWD/.build/hostile-XXXXXX")
daemon= clients= sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -n "$clients" ] && kill "$clients" 2>/dev/null
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)

tls_config=
if [ "$bench_tls" = 1 ]; then
  case $tls_key in
    ec) key_args=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); key_name="ECDSA P-256" ;;
    rsa) key_args=(-newkey rsa:2048); key_name="RSA 2048" ;;
    *) echo "TLS_KEY must be ec or rsa" >&2; exit 2 ;;
  esac
  openssl req -x509 "${key_args[@]}" -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  chmod 600 "$work/key.pem"
  tls_config=$(printf ', "tls": {"certificateChainFile": "%s", "privateKeyFile": "%s"}' "$work/cert.pem" "$work/key.pem")
fi

start_daemon() {  # name nofile-limit
  local dir=$work/$1
  mkdir -p "$dir"
  printf '{"stateDirectory": "%s/state", "listen": {"port": 0%s}, "limits": {"maxConnections": 4096}, "log": {"level": "info"}}\n' \
    "$dir" "$tls_config" >"$dir/config.json"
  (ulimit -n "$2"; PAN_SEC_XERO_WEBHOOK_KEY=ExampleSigningKey exec "$bin" serve --config "$dir/config.json") 2>"$dir/stderr" &
  daemon=$!
  for _ in $(seq 1 200); do grep -q ' listening ' "$dir/stderr" 2>/dev/null && break; sleep 0.05; done
  port=$(grep ' listening ' "$dir/stderr" | grep -o 'address=[^ ]*' | head -1 | sed 's/.*://')
  [ -n "$port" ] || { echo "the daemon did not start" >&2; cat "$dir/stderr" >&2; exit 1; }
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
cpu_percent() { awk -v t="$1" -v s="$2" -v k="$tick" 'BEGIN { printf "%.1f", 100 * t / k / s }'; }
healthz() {  # prints the status of GET /healthz on a new connection (TLS in TLS mode), or "none"
  python3 - "$port" "$bench_tls" <<'EOF'
import socket, ssl, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    if sys.argv[2] == "1":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        s = context.wrap_socket(s, server_hostname="localhost")
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    print(s.recv(64)[9:12].decode())
except OSError:
    print("none")
EOF
}
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
stop_daemon() {  # sets exit_status to the daemon's exit status after SIGTERM
  kill -TERM "$daemon"
  exit_status=0
  wait "$daemon" || exit_status=$?
  daemon=
}

# ---- 1. Flood ----------------------------------------------------------------------------------
start_daemon flood 8192
flood_seconds=$(( 15 + requests / rate + 20 ))
# The daemon's CPU ticks every second ("time ticks" lines) until the measurement ends.
(while :; do echo "$(now) $(cpu_ticks "$daemon")"; sleep 1; done) >"$work/cpu.log" 2>/dev/null &
sampler=$!
flood_t0=$(now); flood_ticks0=$(cpu_ticks "$daemon")
timeout $(( flood_seconds + 30 )) python3 bench/hostile-clients.py $tls_flag flood "$port" "$flood_connections" "$flood_seconds" "$work/flood.json" &
clients=$!
for _ in $(seq 1 150); do
  [ -f "$work/flood.json" ] && [ "$(json "$work/flood.json" "d['open']")" -ge $(( flood_connections * 95 / 100 )) ] && break
  sleep 0.1
done
open_at_start=$(json "$work/flood.json" "d['open']")
fds_at_start=$(ls "/proc/$daemon/fd" | wc -l)
ticks0=$(cpu_ticks "$daemon"); t0=$(now)
python3 bench/hostile-clients.py $tls_flag measure "$port" "$requests" "$rate" "$work/measure.json"
ticks1=$(cpu_ticks "$daemon"); t1=$(now)
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; sampler=
open_at_end=$(json "$work/flood.json" "d['open']")
fds_at_end=$(ls "/proc/$daemon/fd" | wc -l)
flood_cpu=$(cpu_percent $(( ticks1 - ticks0 )) "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
ramp_cpu=$(cpu_percent $(( ticks0 - flood_ticks0 )) "$(awk -v a="$flood_t0" -v b="$t0" 'BEGIN { print b - a }')")
ramp_seconds=$(awk -v a="$flood_t0" -v b="$t0" 'BEGIN { printf "%.1f", b - a }')
peak_cpu=$(awk -v k="$tick" 'NF == 2 && $2 != "" { if (pt != "") { c = 100 * ($2 - pc) / k / ($1 - pt); if (c > m) m = c } pt = $1; pc = $2 } END { printf "%.0f", m }' "$work/cpu.log")
rss_flood=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$daemon/status")
python3 bench/hostile-clients.py $tls_flag vanish "$port" 1000 "$work/vanish.json"
alive_after_vanish=$(kill -0 "$daemon" 2>/dev/null && echo yes || echo no)
health_after_flood=$(healthz)
wait "$clients" || true
clients=
rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$daemon/status")
rss_now=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$daemon/status")  # the flood's connections are closed
timeouts=$(grep -c 'request timed out' "$work/flood/stderr" || true)
# Log lines "TIME LEVEL message key=value…": deadline closes by phase, TLS failures by reason,
# and whatever was logged at warning or above.
timeouts_by_phase=$(grep 'request timed out' "$work/flood/stderr" | grep -oE 'phase=("[^"]*"|[^ ]*)' | sort | uniq -c | awk '{c = $1; $1 = ""; printf "%s%s %s", sep, substr($0, 2), c; sep = ", "}' || true)
tls_failures=$(grep -c ' tls failed ' "$work/flood/stderr" || true)
tls_failures_by_reason=$(grep ' tls failed ' "$work/flood/stderr" | grep -oE 'reason=("[^"]*"|[^ ]*)' | sort | uniq -c | sort -rn | awk '{c = $1; $1 = ""; printf "%s%s × %s", sep, substr($0, 2), c; sep = "; "}' || true)
serious=$(awk '$2 == "warning" || $2 == "error" || $2 == "critical"' "$work/flood/stderr" | cut -d" " -f2- | sed 's/ peer=[^ ]*//' | sort | uniq -c | sort -rn | head -5 | awk '{printf "%s%s", sep, $0; sep = "; "}' || true)
stop_daemon; flood_exit=$exit_status

# ---- 2. EMFILE ---------------------------------------------------------------------------------
if [ "$bench_tls" != 1 ]; then
start_daemon emfile "$emfile_limit"
ticks0=$(cpu_ticks "$daemon"); t0=$(now); sleep 3; ticks1=$(cpu_ticks "$daemon"); t1=$(now)
idle_cpu=$(cpu_percent $(( ticks1 - ticks0 )) "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
python3 bench/hostile-clients.py hold "$port" "$emfile_connections" 15 "$work/hold.json" &
clients=$!
sleep 2  # the connections arrive and the descriptors run out
failures0=$(grep -c 'accept failed' "$work/emfile/stderr" || true)
ticks0=$(cpu_ticks "$daemon"); t0=$(now); sleep 10; ticks1=$(cpu_ticks "$daemon"); t1=$(now)
failures1=$(grep -c 'accept failed' "$work/emfile/stderr" || true)
emfile_fds=$(ls "/proc/$daemon/fd" | wc -l)
emfile_window=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
emfile_cpu=$(cpu_percent $(( ticks1 - ticks0 )) "$emfile_window")
failures_per_second=$(awk -v n=$(( failures1 - failures0 )) -v s="$emfile_window" 'BEGIN { printf "%.1f", n / s }')
wait "$clients" || true
clients=
health_after_emfile=none
for _ in $(seq 1 50); do
  health_after_emfile=$(healthz)
  [ "$health_after_emfile" = 200 ] && break
  sleep 0.1
done
stop_daemon; emfile_exit=$exit_status
fi

# ---- Results -----------------------------------------------------------------------------------
m() { json "$work/measure.json" "$1"; }
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, load average at start: $load_start"
  echo
  if [ "$bench_tls" = 1 ]; then
    echo "Command: \`BENCH_TLS=1 bench/hostile.sh\` (FLOOD_CONNECTIONS=$flood_connections REQUESTS=$requests RATE=$rate TLS_KEY=$tls_key); native TLS, self-signed $key_name certificate for localhost made by \`openssl req\` ($(openssl version | cut -d" " -f1-2)); clients: Python $(python3 -c 'import ssl, sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION)'), not verifying; default timeouts (head and TLS handshake 10 s, body idle 10 s, whole request 30 s, keep-alive 30 s); state on $(df --output=fstype "$work" | tail -1)."
  else
    echo "Command: \`bench/hostile.sh\` (FLOOD_CONNECTIONS=$flood_connections REQUESTS=$requests RATE=$rate EMFILE_LIMIT=$emfile_limit EMFILE_CONNECTIONS=$emfile_connections); default timeouts (head 10 s, body idle 10 s, whole request 30 s, keep-alive 30 s); state on $(df --output=fstype "$work" | tail -1)."
  fi
  echo
  echo "### 1. $flood_connections hostile connections$([ "$bench_tls" = 1 ] && echo " over TLS") (maxConnections 4096, ulimit -n 8192)"
  echo
  echo "Hostile connections open when the measurement started / ended: $open_at_start / $open_at_end (daemon descriptors: $fds_at_start / $fds_at_end). Over the whole flood: $(json "$work/flood.json" "', '.join(f'{k} {v}' for k, v in sorted(d['counts'].items()))")."
  echo
  echo "| well-behaved signed POSTs | count | p50 ms | p99 ms | max ms |"
  echo "|---|---|---|---|---|"
  for mode in "keep-alive" "new connection" "all"; do
    echo "| $mode | $(m "d['$mode']['count']") | $(m "'%.2f' % d['$mode']['p50_ms']") | $(m "'%.2f' % d['$mode']['p99_ms']") | $(m "'%.2f' % d['$mode']['max_ms']") |"
  done
  if [ "$bench_tls" = 1 ]; then
    echo "| (of new connection: connect + TLS handshake) | $(m "d['connect']['count']") | $(m "'%.2f' % d['connect']['p50_ms']") | $(m "'%.2f' % d['connect']['p99_ms']") | $(m "'%.2f' % d['connect']['max_ms']") |"
  fi
  echo
  echo "Statuses: $(m "d['statuses']"); client errors: $(m "len(d['errors'])"). Target p99 < 100 ms: $(m "'met' if d['all']['p99_ms'] < 100 and set(d['statuses']) == {'200'} and not d['errors'] else 'NOT met'")."
  echo "Daemon CPU during the measurement: ${flood_cpu}% of one core; peak RSS ${rss} MiB; 'request timed out' log lines: $timeouts."
  if [ "$bench_tls" = 1 ]; then
    echo "Daemon CPU while the flood connected (first ${ramp_seconds} s): ${ramp_cpu}%; busiest second from the start to the end of the measurement: ${peak_cpu}%. Peak RSS (VmHWM) at the end of the measurement: ${rss_flood} MiB; RSS once the flood's connections had closed: ${rss_now} MiB."
    echo "Closed by the daemon at a deadline (log, whole run): ${timeouts_by_phase:-none}. 'tls failed' lines: $tls_failures${tls_failures_by_reason:+ ($tls_failures_by_reason)}. Warning or worse: ${serious:-none}."
  fi
  echo "Slow bodies cut off by the daemon: $(json "$work/flood.json" "sum(v for k, v in d['counts'].items() if 'slow-body ended by' in k and not k.endswith('client'))") of $(json "$work/flood.json" "sum(v for k, v in d['counts'].items() if k.endswith('slow-body connects'))") (one byte every 2-4 s stays under the 10 s body-idle timeout; the 30 s whole-request deadline is what ends it)."
  echo "Seconds until the daemon closed a hostile connection (client clock; from the connect for the handshake kinds, the first head byte for slowloris, the complete head for slow bodies, the answer for idle): $(json "$work/flood.json" "'; '.join(f\"{k} {v['count']}× min {v['min']:.2f} p50 {v['p50']:.2f} p99 {v['p99']:.2f} max {v['max']:.2f}\" for k, v in d['lifetimes'].items()) or 'none'")."
  echo
  echo "Clients vanishing mid-answer: $(json "$work/vanish.json" "', '.join(f'{k} {v}' for k, v in d.items())"). Daemon alive afterwards: $alive_after_vanish; GET /healthz after the flood: $health_after_flood; exit status after SIGTERM: $flood_exit."
  echo
  echo "### 2. EMFILE: ulimit -n $emfile_limit, $emfile_connections idle connections"
  echo
  if [ "$bench_tls" = 1 ]; then
    echo "Not run in TLS mode (accepting backs off before any TLS; see the plain runs)."
  else
    echo "Daemon CPU idle before: ${idle_cpu}%; during ${emfile_window} s of EMFILE: **${emfile_cpu}%** of one core, with ${failures_per_second} 'accept failed; pausing' log lines per second (one per 100 ms pause) and $emfile_fds descriptors open."
    echo "GET /healthz once the connections closed: $health_after_emfile; exit status after SIGTERM: $emfile_exit."
  fi
} | tee -a bench/results/hostile.md
