#!/usr/bin/env bash
# Runs the units in deploy/ under a real systemd: a Debian tree made with debootstrap, booted
# with systemd-nspawn --boot (sharing the host's network, so 127.0.0.1:8080 is the container's),
# commands run inside with nsenter. Every check prints one PASS, FAIL or SKIP line; the exit
# status is 1 if any check failed.
#
#   start (Type=notify, DynamicUser, LoadCredential, StateDirectory), a signed delivery, an admin
#   command run from / as an operator would, reload with a good and a bad config, a bad config at
#   start (exit 78, no restart loop), socket activation, the watchdog killing a hung daemon, stop.
#
# DEBIAN_SUITE picks the tree: bookworm (Debian 12, systemd 252; the default) or trixie (Debian 13,
# systemd 257). systemd 257 refuses cgroup v1 unless told otherwise; on a host without a pure
# cgroup v2 hierarchy the container gets SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1.
#
# Needs root, debootstrap and systemd-container (installed with apt if missing) and port 8080 free
# on 127.0.0.1. The binary is built with --static-swift-stdlib (a server has no Swift toolchain;
# needs libcurl4-openssl-dev), in .build-static. The tree is kept in $ROOT_CACHE
# (default /var/tmp/xero-webhookd-systemd-root-$DEBIAN_SUITE) to skip debootstrap next time.
#
#   scripts/check-systemd.sh
#   DEBIAN_SUITE=trixie scripts/check-systemd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
suite=${DEBIAN_SUITE:-bookworm}
root=${ROOT_CACHE:-/var/tmp/xero-webhookd-systemd-root-$suite}
case $suite in
  bookworm) libraries=libssl3,libcurl4 ;;
  *) libraries=libssl3t64,libcurl4t64 ;;
esac
key=systemd-check-key-0123456789
passed=0 failed=0 skipped=0
result() {
  printf '%-5s %s\n' "$1" "$2"
  case $1 in PASS) passed=$((passed + 1)) ;; FAIL) failed=$((failed + 1)) ;; SKIP) skipped=$((skipped + 1)) ;; esac
}
# expect WHAT WANT GOT
expect() { if [ "$3" = "$2" ]; then result PASS "$1"; else result FAIL "$1 (want '$2', got '$3')"; fi; }
finish() {
  printf '\n%d passed, %d failed, %d skipped in %ds\n' "$passed" "$failed" "$skipped" "$((SECONDS - started))"
  [ "$failed" = 0 ]
}

[ "$(id -u)" = 0 ] || { result SKIP "needs root to boot a container"; finish; exit; }
export DEBIAN_FRONTEND=noninteractive
for tool in debootstrap:debootstrap systemd-nspawn:systemd-container; do
  command -v "${tool%%:*}" >/dev/null || apt-get install -y -qq --no-install-recommends "${tool##*:}" >/dev/null 2>&1 || true
done
if ! command -v debootstrap >/dev/null || ! command -v systemd-nspawn >/dev/null; then
  result SKIP "debootstrap or systemd-nspawn is not available and could not be installed"
  finish; exit
fi
dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends libcurl4-openssl-dev >/dev/null 2>&1 || true
swift build -c release --static-swift-stdlib --product xero-webhookd --scratch-path .build-static >/dev/null
bin=$(swift build -c release --static-swift-stdlib --scratch-path .build-static --show-bin-path)/xero-webhookd

if [ ! -x "$root/usr/lib/systemd/systemd" ]; then
  rm -rf "$root"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates,$libraries \
    "$suite" "$root" http://deb.debian.org/debian >/dev/null
fi
install -m 0755 "$bin" "$root/usr/local/bin/xero-webhookd"
install -m 0644 deploy/xero-webhookd.service deploy/xero-webhookd.socket "$root/etc/systemd/system/"
rm -rf "$root/etc/systemd/system/xero-webhookd.service.d" "$root/var/lib/private/xero-webhookd"
install -d -m 0700 "$root/etc/xero-webhookd/credentials"
install -m 0644 deploy/config.json "$root/etc/xero-webhookd/config.json"
printf '%s\n' "$key" >"$root/etc/xero-webhookd/credentials/webhook-key"
chmod 600 "$root/etc/xero-webhookd/credentials/webhook-key"

legacy=()
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || legacy=(--setenv=SYSTEMD_PROC_CMDLINE=SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1)
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=${SYSTEMD_NSPAWN_UNIFIED_HIERARCHY:-0} \
  systemd-nspawn "${legacy[@]}" --boot -D "$root" --machine=xero-webhookd-check --console=passive --register=no --keep-unit \
  >"$root.console" 2>&1 &
nspawn=$!
trap 'kill $nspawn 2>/dev/null; wait $nspawn 2>/dev/null' EXIT
leader=
for _ in $(seq 1 100); do
  leader=$(pgrep -P "$nspawn" -x systemd || true)
  [ -n "$leader" ] && nsenter -t "$leader" -a systemctl is-system-running >/dev/null 2>&1 && break
  sleep 0.2
done
[ -n "$leader" ] || { result FAIL "the container did not boot ($(tail -3 "$root.console" | tr '\n' ' '))"; finish; exit; }
inside() { nsenter -t "$leader" -a "$@"; }
prop() { inside systemctl show -p "$1" --value xero-webhookd.service; }
# journal_has PATTERN [journalctl options]: journald writes asynchronously, so look for a few seconds.
journal_has() {
  local pattern=$1; shift
  for _ in $(seq 1 40); do
    inside journalctl -b -u xero-webhookd -o cat "$@" | grep -q "$pattern" && return 0
    sleep 0.25
  done
  return 1
}
version=$(inside systemctl --version | head -1)
result PASS "booted: $version"

inside systemctl start xero-webhookd.service && result PASS "systemctl start (Type=notify: READY=1 before it returns)" \
  || result FAIL "systemctl start"
expect "status text from the daemon" "Receiving on 127.0.0.1:8080" "$(prop StatusText)"
expect "/readyz" "200" "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz)"
sent=$(PAN_SEC_XERO_WEBHOOK_KEY=$key "$bin" send http://127.0.0.1:8080/webhooks/xero --count 2 | grep -c ': 200 in ' || true)
expect "two signed deliveries answered 200" "2" "$sent"
pending=$(inside sh -c 'cd / && xero-webhookd queue status --config /etc/xero-webhookd/config.json' | sed -n 's/^pending: //p')
expect "queue status from /, as root, with the unit's config: the service's queue (/var/lib/xero-webhookd)" "2" "$pending"
[ -n "$(prop WatchdogTimestampMonotonic | grep -v '^0$')" ] && result PASS "watchdog pings arrive (WatchdogTimestamp set)" \
  || result FAIL "no watchdog ping"

inside systemctl reload xero-webhookd.service && result PASS "systemctl reload with a good config" || result FAIL "systemctl reload (good config)"
expect "status after the reload" "Receiving on 127.0.0.1:8080; configuration reloaded" "$(prop StatusText)"
sed -i 's/"level": "info"/"level": "loud"/' "$root/etc/xero-webhookd/config.json"
if reload_errors=$(inside systemctl reload xero-webhookd.service 2>&1); then
  result FAIL "a bad config on reload: systemctl reload reported success"
else
  result PASS "a bad config on reload: systemctl reload fails: $(echo "$reload_errors" | head -1)"
fi
journal_has 'reload: ' && result PASS "  ... ExecReload's line in the journal: $(inside journalctl -b -u xero-webhookd -o cat | grep 'reload: ' | tail -1)" \
  || result FAIL "  ... no line from ExecReload in the journal"
case "$(prop StatusText)" in
  "Reload rejected, the running configuration stays: config: log.level"*) result PASS "a bad config on reload: rejected, said in the status text" ;;
  *) result FAIL "a bad config on reload: status text '$(prop StatusText)'" ;;
esac
journal_has 'reload rejected' -p err && result PASS "  ... and shown by journalctl -p err" \
  || result FAIL "  ... not in journalctl -p err"
expect "still active after the rejected reload" "active" "$(inside systemctl is-active xero-webhookd.service || true)"

inside systemctl restart xero-webhookd.service 2>/dev/null || true
sleep 4
expect "a bad config at start: exit 78" "78" "$(prop ExecMainStatus)"
expect "  ... and no restart loop (RestartPreventExitStatus=78)" "0" "$(prop NRestarts)"
journal_has '^config: log.level' -p err && result PASS "  ... the config error is in journalctl -p err" \
  || result FAIL "  ... the config error is not in journalctl -p err"
install -m 0644 deploy/config.json "$root/etc/xero-webhookd/config.json"
inside systemctl reset-failed xero-webhookd.service

inside systemctl start xero-webhookd.socket
expect "socket activation: the service waits" "inactive" "$(inside systemctl is-active xero-webhookd.service || true)"
expect "  ... a connection starts it and gets /readyz 200" "200" "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz)"
journal_has 'using the socket passed by systemd' && result PASS "  ... on the socket systemd passed" \
  || result FAIL "  ... the daemon did not use the passed socket"
inside systemctl stop xero-webhookd.service xero-webhookd.socket
expect "stop: exit 0" "0" "$(prop ExecMainStatus)"

install -d "$root/etc/systemd/system/xero-webhookd.service.d"
printf '[Service]\nEnvironment=XERO_WEBHOOKD_FAILPOINTS=beforeWrite=hang@1\nWatchdogSec=3s\n' \
  >"$root/etc/systemd/system/xero-webhookd.service.d/hang.conf"
inside systemctl daemon-reload
inside systemctl start xero-webhookd.service
PAN_SEC_XERO_WEBHOOK_KEY=$key timeout 15 "$bin" send http://127.0.0.1:8080/webhooks/xero >/dev/null 2>&1 || true  # its write hangs
for _ in $(seq 1 40); do [ "$(prop NRestarts)" != 0 ] && break; sleep 0.5; done
journal_has "Watchdog timeout\|result 'watchdog'" && result PASS "the watchdog kills a daemon whose queue writer hangs" \
  || result FAIL "no watchdog timeout for a hung writer (journal: $(inside journalctl -b -u xero-webhookd -o cat | tail -4 | tr '\n' '|'))"
expect "  ... and systemd starts it again" "1" "$(prop NRestarts)"
rm -f "$root/etc/systemd/system/xero-webhookd.service.d/hang.conf"
inside systemctl daemon-reload
inside systemctl stop xero-webhookd.service
finish
