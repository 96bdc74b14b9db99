#!/usr/bin/env bash
# What unauthenticated clients can make xero-webhookd hold, against a release build on 127.0.0.1
# (port 0, state in a temporary directory, default limits), and bench/results/memory-attack.md
# with the figures. Four runs, each with a fresh daemon:
#
#   baseline   no attack
#   pipeline   one connection sending pipelined `GET /healthz` as fast as it can while reading
#              the answers (this once took 297-633 MiB within 5 s)
#   silent     1,000 connections that never send a byte, opened again as the server closes them
#   bodies     200 connections each sending a head for a 1 MiB body and then one byte short of
#              it (this once took 240 MiB)
#
# During each run a well-behaved client sends signed POSTs (bench/hostile-clients.py measure:
# REQUESTS at RATE per second, every other one on a new connection); its p50/p99 sit next to the
# daemon's peak RSS (VmHWM). Target: peak RSS ≤ 96 MiB under every attack with default limits.
#
#   bench/memory-attack.sh
#   SCRATCH_PATH=.build-other bench/memory-attack.sh    # another build folder (default .build)
# Environment: RUNS ("baseline pipeline silent bodies"), SECONDS_PER_RUN (20), REQUESTS (300), RATE (20), SILENT (1000), BODIES (200).
# Stops by itself in about two minutes.
set -euo pipefail
load_start=$(cut -d" " -f1-3 /proc/loadavg)
cd "$(dirname "$0")/.."
scratch=${SCRATCH_PATH:-.build}
run_seconds=${SECONDS_PER_RUN:-20}
requests=${REQUESTS:-300}
rate=${RATE:-20}
silent_connections=${SILENT:-1000}
body_connections=${BODIES:-200}
ulimit -n 8192  # the attack clients' own sockets

swift build -c release --product xero-webhookd --scratch-path "$scratch" >/dev/null
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/xero-webhookd
mkdir -p .build bench/results
work=$(mktemp -d "$PWD/.build/memory-attack-XXXXXX")
daemon= attack=
cleanup() {
  [ -n "$attack" ] && kill "$attack" 2>/dev/null
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
mib() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$daemon/status"; }

rows=()
for run in ${RUNS:-baseline pipeline silent bodies}; do
  dir=$work/$run
  mkdir -p "$dir"
  printf '{"stateDirectory": "%s/state", "listen": {"port": 0}, "log": {"level": "info"}}\n' "$dir" >"$dir/config.json"
  PAN_SEC_XERO_WEBHOOK_KEY=ExampleSigningKey "$bin" serve --config "$dir/config.json" 2>"$dir/stderr" &
  daemon=$!
  for _ in $(seq 1 200); do grep -q ' listening ' "$dir/stderr" 2>/dev/null && break; sleep 0.05; done
  port=$(grep ' listening ' "$dir/stderr" | grep -o 'address=[^ ]*' | head -1 | sed 's/.*://')
  [ -n "$port" ] || { echo "the daemon did not start" >&2; cat "$dir/stderr" >&2; exit 1; }
  idle=$(mib VmRSS)
  case $run in
    baseline) attack= ;;
    pipeline) python3 bench/memory-attack-clients.py pipeline "$port" "$run_seconds" "$dir/attack.json" & attack=$! ;;
    silent) python3 bench/memory-attack-clients.py silent "$port" "$silent_connections" "$run_seconds" "$dir/attack.json" & attack=$! ;;
    bodies) python3 bench/memory-attack-clients.py bodies "$port" "$body_connections" "$run_seconds" "$dir/attack.json" & attack=$! ;;
  esac
  [ -n "$attack" ] && sleep 2  # the attack is under way before the measurement starts
  python3 bench/hostile-clients.py measure "$port" "$requests" "$rate" "$dir/measure.json"
  if [ -n "$attack" ]; then wait "$attack" || true; attack=; fi
  peak=$(mib VmHWM); after=$(mib VmRSS)
  fds=$(ls "/proc/$daemon/fd" | wc -l)
  statuses=$(json "$dir/measure.json" "', '.join(f'{k}: {v}' for k, v in sorted(d['statuses'].items()))")
  errors=$(json "$dir/measure.json" "len(d['errors'])")
  p50=$(json "$dir/measure.json" "'%.2f' % d['all']['p50_ms']")
  p99=$(json "$dir/measure.json" "'%.2f' % d['all']['p99_ms']")
  summary=$( [ -f "$dir/attack.json" ] && json "$dir/attack.json" "', '.join(f'{k} {v}' for k, v in d.items())" || echo "-")
  refusals=$(grep -c 'request rejected' "$dir/stderr" || true)
  kill -TERM "$daemon"; status=0; wait "$daemon" || status=$?; daemon=
  rows+=("| $run | $idle | **$peak** | $after | $p50 | $p99 | $statuses; errors $errors | $summary | $refusals | $status |")
done

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, load average at start: $load_start"
  echo
  echo "Command: \`bench/memory-attack.sh\` (SECONDS_PER_RUN=$run_seconds REQUESTS=$requests RATE=$rate SILENT=$silent_connections BODIES=$body_connections); release build, default limits (maxConnections 1024, maxBodyBytes 1 MiB, requestMemoryBytes 32 MiB, connectionInputAllowance 16 KiB, head timeout 10 s); a fresh daemon per run."
  echo
  echo "| run | idle RSS MiB | peak RSS MiB | RSS after MiB | good client p50 ms | p99 ms | good client answers | attack | rejections logged | exit |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee -a bench/results/memory-attack.md
