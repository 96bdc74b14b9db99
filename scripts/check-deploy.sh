#!/usr/bin/env bash
# Tests the example deployment files in deploy/ for real, on 127.0.0.1 with ports picked at run
# time, against a release build of xero-webhookd. Every check prints one PASS, FAIL or SKIP line;
# the exit status is 1 if any check failed.
#
#   1. a test PKI made with the openssl command (root CA, intermediate, server certificate for
#      localhost and 127.0.0.1), the way Tests/TestSupport/TestCertificates.swift makes it;
#   2. native TLS from deploy/tls/config.json, run under systemd-socket-activate as
#      deploy/tls/listen-443.socket.conf does with systemd: signed/unsigned deliveries, TLS
#      versions, and a certificate renewal through deploy/tls/certbot-deploy-hook.sh (SIGHUP)
#      with a keep-alive connection held open across it;
#   3. deploy/nginx.conf in front of the plain-HTTP daemon (deploy/config.json);
#   4. deploy/Caddyfile in front of the same daemon (SKIP if Caddy cannot be installed);
#   5. the systemd units and drop-ins with systemd-analyze verify, and their exposure with
#      systemd-analyze security --offline=yes;
#   6. deploy/prometheus-alerts.yml with promtool, deploy/grafana-dashboard.json, and that every
#      metric they name is one the daemon exports;
#   7. the units under a real systemd 252 (scripts/check-systemd.sh, systemd-nspawn --boot).
#
# Runs as root on Debian 12 (installs nginx-light and caddy with apt if missing). Everything it
# starts is stopped and its work directory removed when it exits (KEEP_WORK=1 keeps the directory).
#
#   scripts/check-deploy.sh
#   SCRATCH_PATH=.build-other scripts/check-deploy.sh    # another build folder (default .build)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${SCRATCH_PATH:-.build}
started=$SECONDS

# A package installed here only for its binary: on a machine where systemd runs, the Debian
# packages of nginx and Caddy start a server on port 80 of every address; stop that one again.
install_package() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "$1" >/dev/null || return 1
  if [ -d /run/systemd/system ]; then systemctl disable --now "$2" >/dev/null 2>&1 || true; fi
}
if ! command -v nginx >/dev/null; then install_package nginx-light nginx.service; fi
if ! command -v caddy >/dev/null; then install_package caddy caddy.service || true; fi

swift build -c release --product xero-webhookd --scratch-path "$scratch" >/dev/null
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/xero-webhookd
work=$(mktemp -d "${TMPDIR:-/tmp}/deploy-check-XXXXXX")
tls_pid= plain_pid= nginx_pid= caddy_pid= keepalive_pid=
cleanup() {
  [ -n "$keepalive_pid" ] && kill "$keepalive_pid" 2>/dev/null
  [ -n "$caddy_pid" ] && kill "$caddy_pid" 2>/dev/null
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null
  [ -n "$plain_pid" ] && kill "$plain_pid" 2>/dev/null
  [ -n "$tls_pid" ] && kill "$tls_pid" 2>/dev/null
  wait 2>/dev/null
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# wait_log FILE PATTERN: waits up to 10 s for a log line matching PATTERN (grep -E).
wait_log() { for _ in $(seq 1 200); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# The port of the daemon's ' listening ' line (address=HOST:PORT).
log_port() { grep ' listening ' "$1" | grep -o 'address=[^ ]*' | head -1 | sed 's/.*://'; }

passed=0 failed=0 skipped=0
result() {
  printf '%-4s  %s\n' "$1" "$2"
  case $1 in PASS) passed=$((passed + 1)) ;; FAIL) failed=$((failed + 1)) ;; SKIP) skipped=$((skipped + 1)) ;; esac
}
# check WHAT COMMAND...: PASS if COMMAND succeeds; else FAIL with the first lines of its output.
check() {
  local what=$1; shift
  if "$@" >"$work/check.out" 2>&1; then result PASS "$what"
  else result FAIL "$what"; sed -n '1,6s/^/        /p' "$work/check.out"; fi
}
# expect WHAT WANT COMMAND...: PASS if COMMAND prints exactly WANT.
expect() {
  local what=$1 want=$2 got; shift 2
  got=$("$@" 2>"$work/expect.err") || true
  if [ "$got" = "$want" ]; then result PASS "$what"
  else result FAIL "$what: got '$got', want '$want' $(head -c 300 "$work/expect.err")"; fi
}
section() { printf '\n== %s\n' "$1"; }

# Deliveries. The key is given to the daemons as PAN_SEC_XERO_WEBHOOK_KEY; a signature is
# base64(HMAC-SHA256(body, key)) over the exact body bytes.
export PAN_SEC_XERO_WEBHOOK_KEY=ExampleWebhookKey-deploy-check
sign() { openssl dgst -sha256 -hmac "$1" -binary <"$2" | base64; }
handshake=$work/handshake.json    # Xero's intent-to-receive: no events
printf '%s' '{"events":[],"firstEventSequence":1,"lastEventSequence":1,"entropy":"ABCDEFGHIJ"}' >"$handshake"
good=$(sign "$PAN_SEC_XERO_WEBHOOK_KEY" "$handshake")
bad=$(sign "not-the-webhook-key" "$handshake")
# event_body FILE RESOURCE-ID: a delivery with one CONTACT event for RESOURCE-ID.
event_body() {
  printf '{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/%s","resourceId":"%s","eventDateUtc":"2024-06-21T01:15:39.902","eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f","tenantType":"ORGANISATION"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"ABCDEFGHIJ"}' \
    "$2" "$2" >"$1"
}
new_id() { cat /proc/sys/kernel/random/uuid; }
# post URL BODY SIGNATURE [curl options...]: prints "STATUS BODY-BYTES SET-COOKIE-COUNT".
post() {
  local url=$1 body=$2 sig=$3; shift 3
  curl -sS --max-time 10 -o "$work/answer" -D "$work/headers" -w '%{http_code} %{size_download}' \
    -H "x-xero-signature: $sig" -H 'content-type: application/json' --data-binary "@$body" "$@" "$url"
  printf ' %s' "$(grep -ci '^set-cookie:' "$work/headers" || true)"
}
# get URL [curl options...]: prints the status.
get() { local url=$1; shift; curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$@" "$url"; }
# curl_exit [curl options...]: prints curl's exit status (0 ok, 35 handshake failed, 60 not verified).
curl_exit() { local rc=0; curl -sS --max-time 10 -o /dev/null "$@" 2>"$work/curl.err" || rc=$?; echo "$rc"; }
# queued CONFIG RESOURCE-ID: the event for RESOURCE-ID is in the queue of CONFIG's state directory.
queued() { "$bin" queue dump --config "$1" | grep -F "\"resourceId\":\"$2\""; }

echo "xero-webhookd deploy check: $(date -u '+%Y-%m-%dT%H:%M:%SZ'), $bin"

# ---------------------------------------------------------------------------------------------
section "1. Test PKI (openssl)"
# Each PKI is a root CA, an intermediate CA and an RSA server certificate for localhost and
# 127.0.0.1, laid out like a certbot lineage: fullchain.pem (leaf + intermediate) and
# privkey.pem. Clients trust only ca.pem, so a handshake verifies only if the server sends the
# whole chain. "first" is the certificate in use, "second" (another root) the renewal.
make_pki() {
  local d=$work/pki/$1 cnf=Tests/Fixtures/test-pki.cnf ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  mkdir -p "$d"
  openssl req -x509 -config "$cnf" -extensions ca "${ec[@]}" -keyout "$d/root.key" -out "$d/ca.pem" -days 3 -subj "/CN=$1 test root"
  openssl req -new -config "$cnf" "${ec[@]}" -keyout "$d/intermediate.key" -out "$d/intermediate.csr" -subj "/CN=$1 test intermediate"
  openssl x509 -req -in "$d/intermediate.csr" -CA "$d/ca.pem" -CAkey "$d/root.key" -set_serial 2 -days 2 \
    -extfile "$cnf" -extensions ca -out "$d/intermediate.pem"
  openssl req -new -config "$cnf" -newkey rsa:2048 -nodes -keyout "$d/privkey.pem" -out "$d/leaf.csr" -subj "/O=$1/CN=localhost"
  openssl x509 -req -in "$d/leaf.csr" -CA "$d/intermediate.pem" -CAkey "$d/intermediate.key" -set_serial 3 -days 1 \
    -extfile "$cnf" -extensions leaf -out "$d/leaf.pem"
  cat "$d/leaf.pem" "$d/intermediate.pem" >"$d/fullchain.pem"
  chmod 600 "$d/privkey.pem"
}
make_pki first >"$work/pki-first.log" 2>&1
make_pki second >"$work/pki-second.log" 2>&1
ca1=$work/pki/first/ca.pem ca2=$work/pki/second/ca.pem
for n in first second; do
  check "PKI $n: leaf verifies against its own root through the intermediate" \
    openssl verify -CAfile "$work/pki/$n/ca.pem" -untrusted "$work/pki/$n/intermediate.pem" "$work/pki/$n/leaf.pem"
done
check "PKI: leaf of first does not verify against the root of second (the CAs are distinct)" \
  bash -c "! openssl verify -CAfile '$ca2' -untrusted '$work/pki/first/intermediate.pem' '$work/pki/first/leaf.pem'"
check "PKI: server certificate names DNS:localhost and IP 127.0.0.1" \
  bash -c "openssl x509 -in '$work/pki/first/leaf.pem' -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1'"

# ---------------------------------------------------------------------------------------------
section "2a. Native TLS (deploy/tls/config.json) under socket activation"
# The config as shipped, with the two certificate paths pointing at TLS_DIR, a state directory
# in the work directory, and host/port 127.0.0.1:0: with socket activation listen.host/port are
# not used, so the daemon can only be reached on the activation port if it took the passed
# socket (port 0 would be some other, random port).
tls_dir=$work/etc/tls
tls_config=$work/tls-config.json
jq --arg chain "$tls_dir/fullchain.pem" --arg key "$tls_dir/privkey.pem" --arg state "$work/state-tls" \
  '.listen.host = "127.0.0.1" | .listen.port = 0
   | .listen.tls.certificateChainFile = $chain | .listen.tls.privateKeyFile = $key
   | .stateDirectory = $state' deploy/tls/config.json >"$tls_config"
# The first certificate is installed by the certbot deploy hook too (certbot runs deploy hooks
# on the first issue as well), with no reload. TLS_GROUP is the invoking user's group so the
# check does not add a system group (the hook's default, xero-webhookd-tls) to this machine.
tls_group=$(id -gn)
check "deploy hook installs the first certificate into TLS_DIR" \
  env RENEWED_LINEAGE="$work/pki/first" TLS_DIR="$tls_dir" TLS_GROUP="$tls_group" RELOAD=true \
  sh deploy/tls/certbot-deploy-hook.sh
check "check-config accepts deploy/tls/config.json (paths, port and state substituted)" \
  "$bin" check-config --config "$tls_config"

# systemd-socket-activate binds the port, like xero-webhookd.socket with listen-443.socket.conf,
# and execs the daemon at the first connection with LISTEN_FDS/LISTEN_PID set; like systemd it
# passes a clean environment, so the key goes through -E. Because it execs, the pid of this
# background job is the daemon's (checked against the daemon's own 'starting pid=' line).
tls_port=$(free_port)
systemd-socket-activate -l "127.0.0.1:$tls_port" -E PAN_SEC_XERO_WEBHOOK_KEY \
  "$bin" serve --config "$tls_config" 2>"$work/tls.log" &
tls_pid=$!
wait_log "$work/tls.log" '^Listening on ' || true
(exec 3<>"/dev/tcp/127.0.0.1/$tls_port") 2>/dev/null || true   # the first connection starts the service
wait_log "$work/tls.log" ' listening ' || { cat "$work/tls.log"; echo "native TLS daemon did not start" >&2; exit 1; }
tls_url=https://localhost:$tls_port/webhooks/xero
check "daemon logs 'tls on' with the first certificate" grep -E ' tls on .*subject="CN=localhost,O=first"' "$work/tls.log"
check "daemon uses the socket passed by systemd (log line, fd 3)" grep -F 'using the socket passed by systemd fd=3' "$work/tls.log"
expect "daemon listens on the activation port 127.0.0.1:$tls_port, not the config's port 0" \
  "127.0.0.1:$tls_port" bash -c "grep ' listening ' '$work/tls.log' | grep -o 'address=[^ ]*' | sed 's/address=//'"
expect "the pid of systemd-socket-activate's job is the daemon's (it execs)" \
  "$tls_pid" bash -c "grep -o ' starting .*pid=[0-9]*' '$work/tls.log' | grep -o '[0-9]*\$'"
expect "native TLS: signed POST -> 200, empty body, no cookie" "200 0 0" post "$tls_url" "$handshake" "$good" --cacert "$ca1"
expect "native TLS: wrongly signed POST -> 401, empty body" "401 0 0" post "$tls_url" "$handshake" "$bad" --cacert "$ca1"
tls_event=$(new_id); event_body "$work/event-tls.json" "$tls_event"
expect "native TLS: signed POST with one event -> 200" "200 0 0" \
  post "$tls_url" "$work/event-tls.json" "$(sign "$PAN_SEC_XERO_WEBHOOK_KEY" "$work/event-tls.json")" --cacert "$ca1"
check "native TLS: the event is in the queue (queue dump)" queued "$tls_config" "$tls_event"
# TLS 1.1: the client is allowed to offer it (SECLEVEL=0, else OpenSSL 3 may refuse on its own
# side), so the handshake failing with the server's protocol_version alert shows the daemon refused.
expect "TLS 1.1 is refused by the server (curl exit 35)" 35 \
  curl_exit --cacert "$ca1" --ciphers 'DEFAULT@SECLEVEL=0' --tlsv1.1 --tls-max 1.1 "https://localhost:$tls_port/healthz"
check "  ... with the server's alert (protocol version), not a client-side refusal" grep -q 'alert protocol version' "$work/curl.err"
# tls_version [curl options...]: prints "STATUS PROTOCOL" of a GET /healthz.
tls_version() {
  curl -sS --max-time 10 -v -o /dev/null -w '%{http_code}' --cacert "$ca1" "$@" "https://localhost:$tls_port/healthz" 2>"$work/tls-version.err"
  printf ' %s' "$(grep -o 'SSL connection using TLSv1\.[0-9]' "$work/tls-version.err" | sed 's/.* //')"
}
expect "TLS 1.2 works (--tlsv1.2 --tls-max 1.2)" "200 TLSv1.2" tls_version --tlsv1.2 --tls-max 1.2
expect "TLS 1.3 works (--tlsv1.3)" "200 TLSv1.3" tls_version --tlsv1.3
expect "a client trusting only the second root does not verify the first certificate (curl exit 60)" 60 \
  curl_exit --cacert "$ca2" "https://localhost:$tls_port/healthz"

# ---------------------------------------------------------------------------------------------
section "2b. Certificate renewal: certbot-deploy-hook.sh + SIGHUP, keep-alive held across it"
# A client opens one TLS connection, gets 200 for a delivery, and waits; the hook installs the
# second certificate and reloads the daemon; then the client sends a second delivery on the same
# connection. Both 200 on one socket shows a reload drops no connection.
cat >"$work/keepalive.py" <<'EOF'
import http.client, os, ssl, sys, time
port, ca, body_file, sig, ready, go = sys.argv[1:]
body = open(body_file, "rb").read()
conn = http.client.HTTPSConnection("localhost", int(port), context=ssl.create_default_context(cafile=ca), timeout=10)
def post():
    conn.request("POST", "/webhooks/xero", body=body, headers={"x-xero-signature": sig, "content-type": "application/json"})
    answer = conn.getresponse()
    return answer.status, len(answer.read())
first = post()
sock = conn.sock
org = dict(item[0] for item in sock.getpeercert()["subject"]).get("organizationName")
open(ready, "w").close()
deadline = time.time() + 20
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("no reload within 20 s")
    time.sleep(0.05)
second = post()
print(f"first={first[0]}/{first[1]}B second={second[0]}/{second[1]}B same-connection={'yes' if conn.sock is sock else 'no'} certificate={org}")
EOF
python3 "$work/keepalive.py" "$tls_port" "$ca1" "$handshake" "$good" "$work/ka.ready" "$work/ka.go" >"$work/ka.out" 2>&1 &
keepalive_pid=$!
for _ in $(seq 1 200); do [ -e "$work/ka.ready" ] && break; sleep 0.05; done
check "keep-alive client: first delivery answered, connection held open" test -e "$work/ka.ready"

check "deploy hook installs the renewed certificate and runs RELOAD (kill -HUP <daemon pid>)" \
  env RENEWED_LINEAGE="$work/pki/second" TLS_DIR="$tls_dir" TLS_GROUP="$tls_group" RELOAD="kill -HUP $tls_pid" \
  sh deploy/tls/certbot-deploy-hook.sh
check "daemon logs 'tls certificate reloaded' with the second certificate" \
  wait_log "$work/tls.log" ' tls certificate reloaded .*subject="CN=localhost,O=second"'
touch "$work/ka.go"
ka_rc=0; wait "$keepalive_pid" || ka_rc=$?; keepalive_pid=
expect "keep-alive connection across the reload: both deliveries 200 on the same socket (still the first certificate)" \
  "first=200/0B second=200/0B same-connection=yes certificate=first rc=0" \
  bash -c "printf '%s rc=%s' \"\$(cat '$work/ka.out')\" '$ka_rc'"
expect "after renewal: signed POST verified with the NEW root -> 200" "200 0 0" post "$tls_url" "$handshake" "$good" --cacert "$ca2"
expect "after renewal: a client trusting only the OLD root fails verification (curl exit 60)" 60 \
  curl_exit --cacert "$ca1" "https://localhost:$tls_port/healthz"
check "  ... because the certificate is not trusted (SSL certificate problem)" grep -q 'SSL certificate problem' "$work/curl.err"
expect "hook's file modes: TLS_DIR 750, fullchain.pem 644, privkey.pem 640, no .new files left" "750 644 640 0" \
  bash -c "printf '%s %s %s %s' \$(stat -c %a '$tls_dir' '$tls_dir/fullchain.pem' '$tls_dir/privkey.pem') \$(ls -A '$tls_dir' | grep -c '\.new\$')"
check "daemon is still the same process" kill -0 "$tls_pid"
check "the native TLS daemon logged no error or warning" bash -c "! grep -E ' (error|warning|critical) ' '$work/tls.log'"

# ---------------------------------------------------------------------------------------------
# The plain-HTTP daemon behind the proxies of parts 3 and 4: deploy/config.json with port 0 (the
# port is taken from the 'listening' line) and a state directory in the work directory.
plain_config=$work/plain-config.json
jq --arg state "$work/state-plain" '.listen.port = 0 | .stateDirectory = $state' deploy/config.json >"$plain_config"
"$bin" serve --config "$plain_config" 2>"$work/plain.log" &
plain_pid=$!
wait_log "$work/plain.log" ' listening ' || { cat "$work/plain.log"; echo "plain daemon did not start" >&2; exit 1; }
plain_port=$(log_port "$work/plain.log")

# ---------------------------------------------------------------------------------------------
section "3. nginx in front (deploy/nginx.conf)"
# The server block as shipped, included in a private top-level nginx.conf, with: listen 443 ->
# 127.0.0.1:<free port> (the [::]:443 line dropped: 127.0.0.1 only), the letsencrypt paths ->
# the first PKI's fullchain.pem/privkey.pem, upstream 127.0.0.1:8080 -> the plain daemon.
check "check-config accepts deploy/config.json (port and state substituted)" "$bin" check-config --config "$plain_config"
nginx_port=$(free_port)
ngx=$work/nginx
mkdir -p "$ngx"
sed -e "s|^\([[:space:]]*\)listen 443 ssl;|\1listen 127.0.0.1:$nginx_port ssl;|" \
    -e '/^[[:space:]]*listen \[::\]:443 ssl;/d' \
    -e "s|/etc/letsencrypt/live/hooks.example.com/|$work/pki/first/|" \
    -e "/^[[:space:]]*#/!s|127\.0\.0\.1:8080|127.0.0.1:$plain_port|" deploy/nginx.conf >"$ngx/site.conf"
cat >"$ngx/nginx.conf" <<EOF
worker_processes 1;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events { worker_connections 64; }
http {
    access_log $ngx/access.log;
    client_body_temp_path $ngx/body;
    proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fastcgi;
    uwsgi_temp_path $ngx/uwsgi;
    scgi_temp_path $ngx/scgi;
    include $ngx/site.conf;
}
EOF
check "the substituted server block is what was meant (listen, certificate, upstream)" \
  bash -c "grep -q 'listen 127.0.0.1:$nginx_port ssl;' '$ngx/site.conf' && grep -q 'ssl_certificate  *$work/pki/first/fullchain.pem;' '$ngx/site.conf' \
           && grep -q 'proxy_pass http://127.0.0.1:$plain_port;' '$ngx/site.conf' && ! grep -q '443\|8080\|letsencrypt' '$ngx/site.conf'"
check "nginx -t accepts it" nginx -t -q -e "$ngx/error.log" -p "$ngx" -c "$ngx/nginx.conf"
nginx -e "$ngx/error.log" -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' 2>>"$ngx/error.log" &
nginx_pid=$!
if wait_port "$nginx_port"; then
  ngx_url=https://localhost:$nginx_port/webhooks/xero
  expect "nginx: signed POST -> 200, empty body, no cookie" "200 0 0" post "$ngx_url" "$handshake" "$good" --cacert "$ca1"
  expect "nginx: wrongly signed POST -> 401, empty body" "401 0 0" post "$ngx_url" "$handshake" "$bad" --cacert "$ca1"
  ngx_event=$(new_id); event_body "$work/event-nginx.json" "$ngx_event"
  expect "nginx: signed POST with one event -> 200" "200 0 0" \
    post "$ngx_url" "$work/event-nginx.json" "$(sign "$PAN_SEC_XERO_WEBHOOK_KEY" "$work/event-nginx.json")" --cacert "$ca1"
  check "nginx: the event reached the daemon's queue (queue dump)" queued "$plain_config" "$ngx_event"
  expect "nginx: any other path -> 404" 404 get "https://localhost:$nginx_port/other" --cacert "$ca1"
else
  result FAIL "nginx did not start: $(tail -3 "$ngx/error.log")"
fi

# ---------------------------------------------------------------------------------------------
section "4. Caddy in front (deploy/Caddyfile)"
# The site block as shipped, with: hooks.example.com -> https://localhost:<free port>, plus
# 'bind 127.0.0.1' and 'tls <chain> <key>' (the first PKI, so no ACME), upstream 127.0.0.1:8080
# -> the plain daemon. Global options: no admin endpoint (it would listen on localhost:2019) and
# no HTTP->HTTPS redirect server (it would listen on port 80 of every address).
if command -v caddy >/dev/null; then
  caddy_port=$(free_port)
  cdy=$work/caddy
  mkdir -p "$cdy"
  {
    printf '{\n\tadmin off\n\tauto_https disable_redirects\n}\n'
    sed -e "s|^hooks\.example\.com {|https://localhost:$caddy_port {\n\tbind 127.0.0.1\n\ttls $work/pki/first/fullchain.pem $work/pki/first/privkey.pem|" \
        -e "/^[[:space:]]*#/!s|127\.0\.0\.1:8080|127.0.0.1:$plain_port|" deploy/Caddyfile
  } >"$cdy/Caddyfile"
  check "the substituted Caddyfile is what was meant (site address, tls, upstream)" \
    bash -c "grep -q '^https://localhost:$caddy_port {' '$cdy/Caddyfile' && grep -q 'tls $work/pki/first/fullchain.pem' '$cdy/Caddyfile' \
             && grep -q '127.0.0.1:$plain_port' '$cdy/Caddyfile' && ! grep -v '^[[:space:]]*#' '$cdy/Caddyfile' | grep -q '8080\|hooks.example.com'"
  caddy_env=(HOME="$cdy" XDG_DATA_HOME="$cdy/data" XDG_CONFIG_HOME="$cdy/config")
  check "caddy validate accepts it" env "${caddy_env[@]}" caddy validate --config "$cdy/Caddyfile" --adapter caddyfile
  env "${caddy_env[@]}" caddy run --config "$cdy/Caddyfile" --adapter caddyfile >"$cdy/log" 2>&1 &
  caddy_pid=$!
  if wait_port "$caddy_port"; then
    cdy_url=https://localhost:$caddy_port/webhooks/xero
    expect "Caddy: signed POST -> 200, empty body, no cookie" "200 0 0" post "$cdy_url" "$handshake" "$good" --cacert "$ca1"
    expect "Caddy: wrongly signed POST -> 401, empty body" "401 0 0" post "$cdy_url" "$handshake" "$bad" --cacert "$ca1"
    cdy_event=$(new_id); event_body "$work/event-caddy.json" "$cdy_event"
    expect "Caddy: signed POST with one event -> 200" "200 0 0" \
      post "$cdy_url" "$work/event-caddy.json" "$(sign "$PAN_SEC_XERO_WEBHOOK_KEY" "$work/event-caddy.json")" --cacert "$ca1"
    check "Caddy: the event reached the daemon's queue (queue dump)" queued "$plain_config" "$cdy_event"
    expect "Caddy: /other -> 404" 404 get "https://localhost:$caddy_port/other" --cacert "$ca1"
  else
    result FAIL "Caddy did not start: $(tail -3 "$cdy/log")"
  fi
else
  result SKIP "Caddy: not installed and 'apt-get install -y caddy' failed; deploy/Caddyfile not tested"
fi
check "the plain daemon logged no error or warning" bash -c "! grep -E ' (error|warning|critical) ' '$work/plain.log'"

# ---------------------------------------------------------------------------------------------
section "5. systemd units (systemd-analyze)"
# systemd-analyze verify checks that the ExecStart= binary exists, so each unit tree gets a copy
# of the service with /usr/local/bin/xero-webhookd replaced by the built binary. Drop-ins go in
# X.service.d/ and X.socket.d/ next to the units, where verify reads them. PASS needs exit 0 and
# no output at all (an unknown key in a drop-in is only a warning, exit status 0).
unit_tree() {  # unit_tree DIR [service drop-ins...] -- [socket drop-ins...]
  local dir=$1; shift
  mkdir -p "$dir"
  sed "s|/usr/local/bin/xero-webhookd|$bin|g" deploy/xero-webhookd.service >"$dir/xero-webhookd.service"
  cp deploy/xero-webhookd.socket "$dir/"
  local target=$dir/xero-webhookd.service.d
  for f in "$@"; do
    if [ "$f" = -- ]; then target=$dir/xero-webhookd.socket.d; continue; fi
    mkdir -p "$target"; cp "$f" "$target/$(basename "$f" .socket.conf | sed 's/\.conf$//').conf"
  done
}
# verify runs `man xero-webhookd(1)` for the unit's Documentation=: the page install.sh installs,
# generated the same way, is put on MANPATH.
swift package --allow-writing-to-package-directory generate-manual >/dev/null 2>&1 || true
mkdir -p "$work/man/man1"
cp .build/plugins/GenerateManual/outputs/xero-webhookd/xero-webhookd.1 "$work/man/man1/" 2>/dev/null || true
verify_quiet() { local out; out=$(MANPATH=$work/man systemd-analyze verify "$@" 2>&1) && [ -z "$out" ] || { echo "$out"; return 1; }; }
units=$work/units
unit_tree "$units/plain"
unit_tree "$units/tls" deploy/tls/native-tls.conf deploy/tls/bind-443-capability.conf -- deploy/tls/listen-443.socket.conf
unit_tree "$units/tls-socket" deploy/tls/native-tls.conf -- deploy/tls/listen-443.socket.conf
unit_tree "$units/control"
mkdir -p "$units/control/xero-webhookd.service.d"
printf '[Service]\nNoSuchKeyForTheControl=1\n' >"$units/control/xero-webhookd.service.d/control.conf"
check "systemd-analyze verify: xero-webhookd.service + xero-webhookd.socket" \
  verify_quiet "$units/plain/xero-webhookd.service" "$units/plain/xero-webhookd.socket"
check "systemd-analyze verify: service + native-tls.conf + bind-443-capability.conf, socket + listen-443.socket.conf" \
  verify_quiet "$units/tls/xero-webhookd.service" "$units/tls/xero-webhookd.socket"
check "  control: verify reads the drop-in directories (an unknown key in a drop-in is reported)" \
  bash -c "systemd-analyze verify '$units/control/xero-webhookd.service' 2>&1 | grep -q NoSuchKeyForTheControl"
# exposure UNIT: "1.5 OK" from systemd-analyze security --offline=yes.
exposure() {
  systemd-analyze security --offline=yes "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p'
}
if base=$(exposure "$units/plain/xero-webhookd.service") && [ -n "$base" ]; then
  expect "systemd-analyze security --offline=yes: base service exposure as README says (1.5 OK)" "1.5 OK" echo "$base"
  echo "INFO  exposure: base $base; native TLS + socket (native-tls.conf) $(exposure "$units/tls-socket/xero-webhookd.service");" \
    "native TLS + capability (native-tls.conf + bind-443-capability.conf) $(exposure "$units/tls/xero-webhookd.service")"
else
  result SKIP "systemd-analyze security --offline=yes does not work here"
fi

# ---------------------------------------------------------------------------------------------
# 6. Monitoring: deploy/prometheus-alerts.yml passes promtool, deploy/grafana-dashboard.json is
# JSON, and every metric either names is one the daemon exports (a family in Metrics.swift).
if ! command -v promtool >/dev/null; then install_package prometheus prometheus.service || true; fi
if command -v promtool >/dev/null; then
  check "promtool check rules deploy/prometheus-alerts.yml" promtool check rules deploy/prometheus-alerts.yml
else
  result SKIP "promtool is not installed and could not be (Debian's prometheus package)"
fi
check "deploy/grafana-dashboard.json is JSON with panels" python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["panels"]' deploy/grafana-dashboard.json
exported=$(grep -o 'family("xero_webhookd_[a-z_]*"' Sources/DaemonRuntime/Metrics.swift | sed 's/family("//; s/"//' | sort -u)
used=$(grep -oh 'xero_webhookd_[a-z_]*' deploy/prometheus-alerts.yml deploy/grafana-dashboard.json | sed -E 's/_(bucket|sum|count)$//' | sort -u)
unknown=$(comm -13 <(echo "$exported") <(echo "$used") | tr '\n' ' ')
check "every metric in the alert rules and the dashboard is exported${unknown:+ (not: $unknown)}" test -z "$unknown"

# ---------------------------------------------------------------------------------------------
# 7. The units under a real systemd (scripts/check-systemd.sh: a Debian 12 tree booted with
# systemd-nspawn); its lines are shown indented, and it counts as one check here.
if bash scripts/check-systemd.sh >"$work/systemd.out" 2>&1; then
  result PASS "units under a real systemd: $(tail -1 "$work/systemd.out")"
elif grep -q '^SKIP' "$work/systemd.out" && ! grep -q '^FAIL' "$work/systemd.out"; then
  result SKIP "units under a real systemd: $(grep -m1 '^SKIP' "$work/systemd.out" | cut -c7-)"
else
  result FAIL "units under a real systemd: $(tail -1 "$work/systemd.out")"
fi
grep -E '^(PASS|FAIL|SKIP) ' "$work/systemd.out" | sed 's/^/      /'

# ---------------------------------------------------------------------------------------------
printf '\n%d passed, %d failed, %d skipped in %ds\n' "$passed" "$failed" "$skipped" "$((SECONDS - started))"
[ "$failed" = 0 ]
