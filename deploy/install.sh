#!/usr/bin/env bash
# Builds xero-webhookd and installs it as a systemd service:
#   /usr/local/bin/xero-webhookd, /etc/systemd/system/xero-webhookd.{service,socket},
#   /etc/xero-webhookd/config.json (kept if present), /etc/xero-webhookd/credentials/ (0700),
#   shell completions (bash, zsh, fish), the man page xero-webhookd(1) and the README the unit's
#   Documentation= names.
# The build runs as the user who called sudo (so .build/ stays theirs); only installing is root's.
# Then put the webhook key in /etc/xero-webhookd/credentials/webhook-key and run
#   systemctl enable --now xero-webhookd.service
# Usage: sudo deploy/install.sh              (needs Swift 6 and libssl-dev)
#        sudo deploy/install.sh --uninstall  (stops and removes what install put there; keeps
#                                              /etc/xero-webhookd and the state in /var/lib)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }

bash_completion=/usr/share/bash-completion/completions/xero-webhookd
zsh_completion=/usr/local/share/zsh/site-functions/_xero-webhookd
fish_completion=/usr/share/fish/vendor_completions.d/xero-webhookd.fish
doc=/usr/local/share/doc/xero-webhookd
manual=/usr/local/share/man/man1/xero-webhookd.1

if [ "${1:-}" = "--uninstall" ]; then
  systemctl disable --now xero-webhookd.socket xero-webhookd.service 2>/dev/null || true
  rm -f /usr/local/bin/xero-webhookd /etc/systemd/system/xero-webhookd.service /etc/systemd/system/xero-webhookd.socket \
        "$bash_completion" "$zsh_completion" "$fish_completion" "$manual"
  rm -rf "$doc"
  systemctl daemon-reload 2>/dev/null || true
  echo "Uninstalled. Kept: /etc/xero-webhookd (config, credentials) and /var/lib/xero-webhookd (queue, records, dead letters)."
  exit 0
fi

# Build as the invoking user: a root-owned .build/ would break their next `swift build`.
as_builder=()
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then as_builder=(sudo -u "$SUDO_USER" --preserve-env=PATH); fi
# --static-swift-stdlib: the installed binary does not need the Swift toolchain's libraries
# (/opt/swift), so removing or upgrading the toolchain cannot break the service. Linking
# FoundationNetworking statically needs libcurl's headers; its own scratch path keeps the
# builder's .build as it was.
if ! dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libcurl4-openssl-dev >/dev/null
fi
build=(swift build -c release --static-swift-stdlib --scratch-path .build-static)
"${as_builder[@]}" "${build[@]}" --product xero-webhookd
bin=$("${as_builder[@]}" "${build[@]}" --show-bin-path)/xero-webhookd
if ldd "$bin" | grep -q 'libswiftCore\|/opt/swift\|not found'; then
  echo "install.sh: $bin still needs libraries that are not part of the system:" >&2
  ldd "$bin" | grep 'libswift\|/opt/swift\|not found' >&2
  exit 1
fi

# The man page, from the commands' own help (swift-argument-parser's generate-manual plugin).
"${as_builder[@]}" swift package --allow-writing-to-package-directory generate-manual >/dev/null
install -m 0755 "$bin" /usr/local/bin/xero-webhookd
install -D -m 0644 .build/plugins/GenerateManual/outputs/xero-webhookd/xero-webhookd.1 "$manual"
install -m 0644 deploy/xero-webhookd.service deploy/xero-webhookd.socket /etc/systemd/system/
install -D -m 0644 README.md "$doc/README.md"  # the unit's Documentation=
install -d -m 0755 "$(dirname "$bash_completion")" "$(dirname "$zsh_completion")" "$(dirname "$fish_completion")"
/usr/local/bin/xero-webhookd --generate-completion-script bash >"$bash_completion"
/usr/local/bin/xero-webhookd --generate-completion-script zsh >"$zsh_completion"
/usr/local/bin/xero-webhookd --generate-completion-script fish >"$fish_completion"
install -d -m 0755 /etc/xero-webhookd
install -d -m 0700 /etc/xero-webhookd/credentials
[ -e /etc/xero-webhookd/config.json ] || install -m 0644 deploy/config.json /etc/xero-webhookd/config.json
systemctl daemon-reload 2>/dev/null || echo "install.sh: systemd is not running here; units installed for later"
echo "Installed. Next:"
echo "  1. put the Xero webhook key in /etc/xero-webhookd/credentials/webhook-key (chmod 600)"
echo "  2. systemctl enable --now xero-webhookd.service"
echo "  3. journalctl -u xero-webhookd -f    # logs;   curl -s 127.0.0.1:8080/readyz"
echo "  4. sudo xero-webhookd queue status --config /etc/xero-webhookd/config.json --state-directory /var/lib/xero-webhookd"
