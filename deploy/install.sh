#!/usr/bin/env bash
# Builds xero-webhookd and installs it as a systemd service:
#   /usr/local/bin/xero-webhookd, /etc/systemd/system/xero-webhookd.{service,socket},
#   /etc/xero-webhookd/config.json (kept if present), /etc/xero-webhookd/credentials/ (0700).
# Then put the webhook key in /etc/xero-webhookd/credentials/webhook-key and run
#   systemctl enable --now xero-webhookd.service
# Usage: sudo deploy/install.sh            (needs Swift 6 and libssl-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
swift build -c release --product xero-webhookd
install -m 0755 "$(swift build -c release --show-bin-path)/xero-webhookd" /usr/local/bin/xero-webhookd
install -m 0644 deploy/xero-webhookd.service deploy/xero-webhookd.socket /etc/systemd/system/
install -D -m 0644 README.md /usr/local/share/doc/xero-webhookd/README.md  # the unit's Documentation=
install -d -m 0755 /etc/xero-webhookd
install -d -m 0700 /etc/xero-webhookd/credentials
[ -e /etc/xero-webhookd/config.json ] || install -m 0644 deploy/config.json /etc/xero-webhookd/config.json
systemctl daemon-reload 2>/dev/null || echo "install.sh: systemd is not running here; units installed for later"
echo "Installed. Next:"
echo "  1. put the Xero webhook key in /etc/xero-webhookd/credentials/webhook-key (chmod 600)"
echo "  2. systemctl enable --now xero-webhookd.service"
echo "  3. journalctl -u xero-webhookd -f    # logs;   curl -s 127.0.0.1:8080/readyz"
