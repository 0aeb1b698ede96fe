#!/usr/bin/env bash
# Installs SafeSphere Edge as a hardened systemd service on Raspberry Pi OS (bookworm) or
# NVIDIA JetPack (Ubuntu 20.04/22.04), with Node.js 20 or newer already installed.
#
#   sudo systemd/install.sh            # from an unpacked checkout or release
#
# It creates the `safesphere` system user, /opt/safesphere-edge (the built package),
# /etc/safesphere-edge/site.yaml (kept if present), /etc/safesphere-edge/credentials/admin-token
# (a generated admin token, as a systemd credential), /var/lib/safesphere-edge (state, by
# systemd's StateDirectory=), installs the unit, enables and starts it, and waits for READY.
# Re-running it upgrades the package and keeps the config, credentials and data.
#
# Environment: PREFIX (/opt/safesphere-edge), ETC (/etc/safesphere-edge), UNIT_DIR
# (/etc/systemd/system), SERVICE_USER (safesphere), NO_START=1 (install only).
set -euo pipefail

PREFIX=${PREFIX:-/opt/safesphere-edge}
ETC=${ETC:-/etc/safesphere-edge}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
SERVICE_USER=${SERVICE_USER:-safesphere}
SRC=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
command -v systemctl >/dev/null || die "systemd is required"
NODE=$(command -v node) || die "Node.js 20 or newer is required (e.g. apt install nodejs from NodeSource)"
NODE_MAJOR=$("$NODE" -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Node.js $("$NODE" --version) found; 20 or newer is required"
command -v npm >/dev/null || die "npm is required"
command -v systemd-notify >/dev/null || die "systemd-notify is required (package systemd)"

say "service user $SERVICE_USER"
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/safesphere-edge --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
# A Pi siren on GPIO (node-red-node-pi-gpio) needs the gpio group; harmless elsewhere.
if getent group gpio >/dev/null; then usermod -a -G gpio "$SERVICE_USER"; fi

say "package into $PREFIX"
install -d -m 0755 "$PREFIX"
if [ "$SRC" != "$PREFIX" ]; then
  # Sources, not the local state: data/, node_modules/ and .git stay behind.
  tar -C "$SRC" --exclude=./data --exclude=./node_modules --exclude=./.git --exclude=./artifacts -cf - . | tar -C "$PREFIX" -xf -
fi
cd "$PREFIX"
# onnxruntime-node's install script only downloads CUDA libraries (the CPU binaries ship in the
# package); package.json's allowScripts denies it on npm 11, this skips it on older npm.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
npm run build --silent
npm prune --omit=dev --no-audit --no-fund
chown -R root:root "$PREFIX"

say "config in $ETC"
install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC"
install -d -m 0700 -o root -g root "$ETC/credentials"
if [ ! -f "$ETC/site.yaml" ]; then
  # The host name as the site id, reduced to the characters an id may hold ('-' last: not a range).
  SITE_ID=$(hostname -s | tr -c 'A-Za-z0-9_.:\n-' '-' | cut -c1-64)
  [ -n "$SITE_ID" ] || SITE_ID=site-1
  cat >"$ETC/site.yaml" <<YAML
# SafeSphere Edge site config: only what differs from config/default.yaml
# (every key, its default and its environment variable are listed there).
site_id: ${SITE_ID}
data_dir: /var/lib/safesphere-edge
auth:
  # Tokens: safesphere-edge --create-token <camera|operator|sync|admin> --name <who>
  tokens: []
  # Cameras on an isolated VLAN may report without a token, e.g. [10.20.0.0/24]
  camera_networks: []
mqtt:
  # Per-camera accounts: password hashes from safesphere-edge --hash-password
  accounts: []
YAML
  chown root:"$SERVICE_USER" "$ETC/site.yaml"
  chmod 0640 "$ETC/site.yaml"
fi
if [ ! -s "$ETC/credentials/admin-token" ]; then
  # The admin token, as a systemd credential: only root and the running service can read it.
  "$NODE" "$PREFIX/dist/bin/safesphere-edge.js" --create-token admin --name admin | sed -n 2p >"$ETC/credentials/admin-token"
  chmod 0600 "$ETC/credentials/admin-token"
fi
"$NODE" "$PREFIX/dist/bin/safesphere-edge.js" --check-config --config "$ETC/site.yaml"

say "unit $UNIT_DIR/safesphere-edge.service"
# This host's node, and PREFIX/ETC when they are not the defaults the unit names.
sed -e "s#^ExecStart=/usr/bin/node #ExecStart=$NODE #" \
    -e "s#/opt/safesphere-edge#$PREFIX#g" \
    -e "s#/etc/safesphere-edge#$ETC#g" \
    "$PREFIX/systemd/safesphere-edge.service" >"$UNIT_DIR/safesphere-edge.service"
chmod 0644 "$UNIT_DIR/safesphere-edge.service"
systemctl daemon-reload
systemctl enable safesphere-edge.service

if [ "${NO_START:-0}" = 1 ]; then
  say "installed (not started: NO_START=1)"
  exit 0
fi
STATE=/var/lib/safesphere-edge
if [ -f "$STATE/safesphere.db" ]; then
  # An upgrade: a backup first (online if the old gateway still runs), so the migrations the new
  # release applies at start can always be undone by restoring it.
  BACKUP="$STATE/backups/pre-upgrade-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
  say "backup before the upgrade: $BACKUP"
  install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE/backups"
  runuser -u "$SERVICE_USER" -- env SAFESPHERE_DATA_DIR="$STATE" "$NODE" "$PREFIX/dist/bin/safesphere-edge.js" \
    backup --config "$ETC/site.yaml" --out "$BACKUP" || die "the pre-upgrade backup failed; nothing was restarted"
fi
say "starting (Type=notify: this returns once every component is up)"
systemctl restart safesphere-edge.service
systemctl --no-pager --lines=5 status safesphere-edge.service || true
systemctl is-active --quiet safesphere-edge.service || die "the service did not start: journalctl -u safesphere-edge -e"
say "done. Admin token: sudo cat $ETC/credentials/admin-token"
