#!/bin/sh
# Copies a certificate certbot just issued or renewed to where xero-webhookd reads it, then
# reloads the daemon (SIGHUP: new connections get the new certificate, none is dropped).
#   certbot certonly --standalone -d hooks.example.com \
#       --deploy-hook /usr/local/lib/xero-webhookd/certbot-deploy-hook.sh
# certbot sets RENEWED_LINEAGE (e.g. /etc/letsencrypt/live/hooks.example.com). TLS_DIR, TLS_GROUP
# and RELOAD may be set to install elsewhere or reload differently.
set -eu
: "${RENEWED_LINEAGE:?run by certbot --deploy-hook, or set RENEWED_LINEAGE}"
TLS_DIR=${TLS_DIR:-/etc/xero-webhookd/tls}
TLS_GROUP=${TLS_GROUP:-xero-webhookd-tls}
RELOAD=${RELOAD:-systemctl reload xero-webhookd.service}

getent group "$TLS_GROUP" >/dev/null || groupadd --system "$TLS_GROUP"
install -d -m 0750 -g "$TLS_GROUP" "$TLS_DIR"
# Each file is written beside its target and renamed over it, so a reload never reads half a file.
install -m 0644 "$RENEWED_LINEAGE/fullchain.pem" "$TLS_DIR/.fullchain.pem.new"
install -m 0640 -g "$TLS_GROUP" "$RENEWED_LINEAGE/privkey.pem" "$TLS_DIR/.privkey.pem.new"
mv -f "$TLS_DIR/.privkey.pem.new" "$TLS_DIR/privkey.pem"
mv -f "$TLS_DIR/.fullchain.pem.new" "$TLS_DIR/fullchain.pem"
$RELOAD
