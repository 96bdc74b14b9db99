#!/usr/bin/env bash
# xero-webhookd against the receivers users could pick instead, one after another in the same
# run on 127.0.0.1, with the same signed 399-byte Xero delivery, keep-alive connections and wrk:
#   xero-webhookd, state on the real disk (every 200 fsynced first)
#   xero-webhookd, state on tmpfs (the HTTP and CPU ceiling of our own code)
#   nginx `return 200` (the ceiling of any HTTP server on this machine)
#   the Dispatch floor: the design card (POSIX sockets, Dispatch read sources, one serial queue
#   per core) doing nothing but frame requests and answer 200 (bench/dispatch-floor)
#   adnanh/webhook 2.8.0 from Debian, payload-hmac-sha256 rule, execute-command /bin/true
#   Xero's PHP sample logic under `php -S` with PHP_CLI_SERVER_WORKERS=2
# Neither peer persists anything. Prints requests/s, p50/p99 latency and peak RSS for each and
# the ratio of xero-webhookd (durable) to each, writes the table to bench/results/peers.md
# (appended) and a chart to bench/results/peers.png.
#
#   bench/peers.sh [duration-seconds] [connections]      (defaults: 15 32; wrk -t1, WRK_THREADS=n for more)
set -euo pipefail
load_start=$(cut -d" " -f1-3 /proc/loadavg)
cd "$(dirname "$0")/.."
duration=${1:-15}
connections=${2:-32}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v webhook >/dev/null || need+=(webhook)
command -v nginx >/dev/null || need+=(nginx-light)
command -v php >/dev/null || need+=(php-cli)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

swift build -c release --product xero-webhookd >/dev/null
bin=$(swift build -c release --show-bin-path)/xero-webhookd
mkdir -p .build bench/results
work=$(mktemp -d "$PWD/.build/peers-XXXXXX")
shmwork=$(mktemp -d /dev/shm/peers-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; pkill -f "nginx -p $work" 2>/dev/null; rm -rf "$work" "$shmwork"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# Peak RSS in MiB of a process and its children (VmHWM summed).
peak_rss() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  awk -v k="$total" 'BEGIN { printf "%.1f", k / 1024 }'
}

declare -A rps p50 p99 rss errs
run_wrk() {  # name port script path
  local out
  out=$(wrk -t"${WRK_THREADS:-1}" -c"$connections" -d"${duration}s" --latency -s "$3" "http://127.0.0.1:$2" 2>&1)
  rps[$1]=$(awk '/^rps/ {print $2}' <<<"$out")
  p50[$1]=$(awk '/^p50_ms/ {print $2}' <<<"$out")
  p99[$1]=$(awk '/^p99_ms/ {print $2}' <<<"$out")
  errs[$1]=$(awk '/Non-2xx/ {n=$NF} /^errors/ {e=$2} END {printf "%d/%d", n, e}' <<<"$out")
}

run_daemon() {  # name statedir
  local port; port=$(free_port)
  printf '{"stateDirectory": "%s/state", "listen": {"port": %s}, "limits": {"maxConnections": 4096}}\n' "$2" "$port" >"$2/config.json"
  PAN_SEC_XERO_WEBHOOK_KEY=ExampleSigningKey "$bin" serve --config "$2/config.json" 2>"$2/stderr" &
  pid=$!
  wait_port "$port"
  run_wrk "$1" "$port" bench/signed-post.lua
  rss[$1]=$(peak_rss "$pid")
  kill -TERM "$pid"; wait "$pid"; pid=
}

# The floor under a durable answer on this disk, measured where the daemon's state goes.
sync=$(python3 bench/fdatasync.py "$work" 2000)
sync_p50=$(awk '/^p50_ms/ {print $2}' <<<"$sync")
sync_p99=$(awk '/^p99_ms/ {print $2}' <<<"$sync")

run_daemon "xero-webhookd (disk)" "$work"
run_daemon "xero-webhookd (tmpfs)" "$shmwork"

port=$(free_port)
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$port|g" bench/peers/nginx.conf.in >"$work/nginx.conf"
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' &
pid=$!
wait_port "$port"
run_wrk "nginx return 200" "$port" bench/signed-post.lua
rss["nginx return 200"]=$(peak_rss "$pid")
kill -QUIT "$pid"; wait "$pid" || true; pid=

# The ceiling of the design itself: Dispatch read sources on one serial queue per core, framing
# by Content-Length and an empty 200, nothing else (bench/dispatch-floor/main.swift).
swiftc -O bench/dispatch-floor/main.swift -o "$work/dispatch-floor"
port=$(free_port)
"$work/dispatch-floor" "$port" &
pid=$!
wait_port "$port"
run_wrk "Dispatch floor (no work)" "$port" bench/signed-post.lua
rss["Dispatch floor (no work)"]=$(peak_rss "$pid")
kill "$pid"; wait "$pid" || true; pid=

port=$(free_port)
webhook -hooks bench/peers/hooks.json -ip 127.0.0.1 -port "$port" -nopanic >"$work/webhook.log" 2>&1 &
pid=$!
wait_port "$port"
run_wrk "webhook 2.8.0" "$port" bench/peers/webhook-post.lua
rss["webhook 2.8.0"]=$(peak_rss "$pid")
kill "$pid"; wait "$pid" || true; pid=

port=$(free_port)
XERO_WEBHOOK_KEY=ExampleSigningKey PHP_CLI_SERVER_WORKERS=2 php -S "127.0.0.1:$port" bench/peers/receiver.php >"$work/php.log" 2>&1 &
pid=$!
wait_port "$port"
run_wrk "PHP sample (php -S)" "$port" bench/signed-post.lua
rss["PHP sample (php -S)"]=$(peak_rss "$pid")
pkill -P "$pid" 2>/dev/null || true  # php -S workers
kill "$pid"; wait "$pid" || true; pid=

ours=${rps["xero-webhookd (disk)"]}
names=("xero-webhookd (disk)" "xero-webhookd (tmpfs)" "nginx return 200" "Dispatch floor (no work)" "webhook 2.8.0" "PHP sample (php -S)")
results=bench/results/peers.md
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, $connections connections, wrk -t${WRK_THREADS:-1}, ${duration}s each, load average at start: $load_start"
  echo
  echo "Command: \`bench/peers.sh $duration $connections\`"
  echo
  echo "| receiver | requests/s | p50 ms | p99 ms | non-2xx/errors | peak RSS MiB | xero-webhookd (disk) ÷ this |"
  echo "|---|---|---|---|---|---|---|"
  for name in "${names[@]}"; do
    ratio=$(awk -v a="$ours" -v b="${rps[$name]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $name | ${rps[$name]} | ${p50[$name]} | ${p99[$name]} | ${errs[$name]} | ${rss[$name]} | $ratio |"
  done
  echo
  echo "One fdatasync of a 420-byte append on the same disk (bench/fdatasync.py, 2,000 in a row): p50 $sync_p50 ms, p99 $sync_p99 ms;"
  awk -v d="${p50["xero-webhookd (disk)"]}" -v s="$sync_p50" -v n="${rps["nginx return 200"]}" -v w="${rps["webhook 2.8.0"]}" -v o="$ours" \
    -v f="${rps["Dispatch floor (no work)"]}" \
    'BEGIN { printf "xero-webhookd (disk) p50 is %.3f ms above it; %.0f %% of nginx, %.2f× webhook; the Dispatch floor is %.0f %% of nginx, xero-webhookd (disk) %.0f %% of that floor.\n", d - s, 100 * o / n, o / w, 100 * f / n, 100 * o / f }'
} | tee -a "$results"

{
  for name in "${names[@]}"; do
    printf '"%s" %s\n' "$name" "${rps[$name]}"
  done
} >"$work/chart.dat"
gnuplot <<GNUPLOT
set terminal pngcairo size 900,420 font "DejaVu Sans,10" noenhanced
set output "bench/results/peers.png"
set title "Signed 399-byte Xero deliveries, $connections keep-alive connections, 127.0.0.1, $(nproc) cores"
set ylabel "requests/s (all answered 200)"
set style fill solid 0.8
set boxwidth 0.6
set grid ytics
set yrange [0:*]
unset key
plot "$work/chart.dat" using 0:2:xtic(1) with boxes lc rgb "#3b6ea5", "" using 0:2:(sprintf("%d", \$2)) with labels offset 0,0.8
GNUPLOT
echo "chart: bench/results/peers.png"
