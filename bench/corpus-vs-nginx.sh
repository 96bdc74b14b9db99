#!/usr/bin/env bash
# Replays the hostile request corpus (Tests/Fixtures/http-corpus) against a release build of
# xero-webhookd and against nginx (Debian's nginx-light; reads each request, body included, and
# answers 200), both on 127.0.0.1 with ports picked at run time, and writes
# bench/results/corpus-vs-nginx.md: per case our answer and nginx's, and for every difference
# the RFC rule we follow.
#
#   bench/corpus-vs-nginx.sh
#   SCRATCH_PATH=.build-other bench/corpus-vs-nginx.sh    # another build folder (default .build)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${SCRATCH_PATH:-.build}
if ! command -v nginx >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null
fi

swift build -c release --product xero-webhookd --scratch-path "$scratch" >/dev/null
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/xero-webhookd
mkdir -p .build bench/results
work=$(mktemp -d "$PWD/.build/corpus-XXXXXX")
daemon= nginx_pid=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# xero-webhookd with its default limits, a temporary state directory and port 0.
printf '{"stateDirectory": "%s/state", "listen": {"port": 0}, "log": {"level": "info"}}\n' "$work" >"$work/config.json"
PAN_SEC_XERO_WEBHOOK_KEY=ExampleSigningKey "$bin" serve --config "$work/config.json" 2>"$work/daemon.log" &
daemon=$!
for _ in $(seq 1 200); do grep -q ' listening ' "$work/daemon.log" 2>/dev/null && break; sleep 0.05; done
port=$(grep ' listening ' "$work/daemon.log" | grep -o 'address=[^ ]*' | head -1 | sed 's/.*://')
python3 bench/corpus-replay.py replay "$port" >"$work/ours.tsv"
kill -0 "$daemon" || { echo "xero-webhookd died during the corpus" >&2; exit 1; }

# nginx answering 200 to every request it accepts. `return 200` alone answers before reading
# the body, so it would report 200 for bodies it never parsed; the front server instead reads
# the whole body (proxy_pass with request buffering, nginx's default) and passes the request to
# a second server of the same nginx that returns 200.
nginx_port=$(free_port)
backend_port=$(free_port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { proxy_pass http://127.0.0.1:$backend_port; }
    }
    server {
        listen 127.0.0.1:$backend_port;
        location / { return 200; }
    }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
wait_port "$nginx_port"
python3 bench/corpus-replay.py replay "$nginx_port" >"$work/nginx.tsv"
version=$(nginx -v 2>&1 | sed 's|.*nginx/||')

python3 bench/corpus-replay.py report "$work/ours.tsv" "$work/nginx.tsv" "$version" "bench/corpus-vs-nginx.sh" \
  >bench/results/corpus-vs-nginx.md
grep -m1 'cases from' bench/results/corpus-vs-nginx.md
