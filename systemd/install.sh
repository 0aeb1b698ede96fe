#!/usr/bin/env bash
# Installs SafeSphere Edge as a hardened systemd service on Raspberry Pi OS (bookworm) or
# NVIDIA JetPack (Ubuntu 20.04/22.04), with Node.js 20 or newer already installed. It checks
# its tools first (node 20+, npm, systemd; python3, make and g++ unless the checkout's
# node_modules is reused) and names every missing one before it changes anything.
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

# The checkout's own node_modules, when `npm ci` already ran in it (the README's Pi steps do):
# reused rather than installed and compiled a second time. Built on this machine, for this Node.
REUSE_MODULES=0
if [ "$SRC" != "$PREFIX" ] && [ -f "$SRC/node_modules/.package-lock.json" ] &&
   [ "$SRC/node_modules/.package-lock.json" -nt "$SRC/package-lock.json" ] &&
   (cd "$SRC" && npm ls --all >/dev/null 2>&1); then
  REUSE_MODULES=1
fi

# Every missing tool at once, before anything is changed.
missing=()
NODE=$(command -v node || true)
if [ -z "$NODE" ]; then
  missing+=("Node.js 20 or newer (NodeSource's nodejs package, see the README)")
elif [ "$("$NODE" -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  missing+=("Node.js 20 or newer (found $("$NODE" --version))")
fi
command -v npm >/dev/null || missing+=("npm (comes with Node.js)")
command -v systemctl >/dev/null || missing+=("systemd (systemctl)")
command -v systemd-notify >/dev/null || missing+=("systemd-notify (package systemd)")
if [ "$REUSE_MODULES" = 0 ]; then
  # better-sqlite3 downloads a prebuilt binary from GitHub; where that fails (offline, a
  # firewall, a Node without one) npm ci compiles it with these.
  for t in python3 make g++; do command -v "$t" >/dev/null || missing+=("$t (apt-get install -y python3 make g++)"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'install.sh: missing, nothing was changed:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
# systemd as PID 1: not so in a chroot or while building an SD-card image. The unit is then
# installed and enabled (it starts at the next boot) but not started here.
SYSTEMD_RUNNING=0
[ -d /run/systemd/system ] && SYSTEMD_RUNNING=1

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
if [ "$REUSE_MODULES" = 1 ]; then
  say "node_modules from $SRC (npm ci already ran there)"
  rm -rf "$PREFIX/node_modules"
  cp -a "$SRC/node_modules" "$PREFIX/node_modules"
else
  # onnxruntime-node's install script only downloads CUDA libraries (the CPU binaries ship in the
  # package); package.json's allowScripts denies it on npm 11, this skips it on older npm.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
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
[ "$SYSTEMD_RUNNING" = 1 ] && systemctl daemon-reload
systemctl enable safesphere-edge.service

if [ "$SYSTEMD_RUNNING" = 0 ]; then
  say "installed and enabled; systemd is not running here (a chroot or an image), so it starts at the next boot"
  exit 0
fi
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
