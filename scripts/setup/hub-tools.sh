#!/usr/bin/env bash
# scripts/setup/hub-tools.sh — redis-server and nginx for the hub's scale-out tests, in user
# space: prints "redis-server: PATH" and "nginx: PATH".
#
# When the machine has both on PATH, those are used. Otherwise the Debian packages (redis-server,
# redis-tools, nginx and the libraries they need that the machine lacks) are downloaded with
# `apt-get download` and unpacked with `dpkg -x` into <repo>/.tools/hub (git-ignored, ~10 MB):
# nothing is installed system-wide, no service is started, nothing is removed. If the apt lists
# are missing (a fresh container), `apt-get update` refreshes them first (as root or with sudo).
# Idempotent: a stamp makes re-runs instant. The tests run these binaries on 127.0.0.1 with
# their own configuration and data in temporary directories.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PREFIX=$REPO/.tools/hub
say() { printf 'hub-tools: %s\n' "$*" >&2; }

if command -v redis-server >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 && [[ ${HUB_TOOLS_LOCAL:-0} != 1 ]]; then
  echo "redis-server: $(command -v redis-server)"
  echo "nginx: $(command -v nginx)"
  exit 0
fi

mkdir -p "$PREFIX"
exec 8>"$PREFIX/.lock"
flock -w 600 8 || { say "another install holds $PREFIX/.lock"; exit 1; }
STAMP="installer=$(sha256sum "$0" | cut -c1-12)"
if [[ -f $PREFIX/stamp && $(<"$PREFIX/stamp") == "$STAMP" && -x $PREFIX/bin/redis-server && -x $PREFIX/bin/nginx ]]; then
  echo "redis-server: $PREFIX/bin/redis-server"
  echo "nginx: $PREFIX/bin/nginx"
  exit 0
fi
rm -f "$PREFIX/stamp"

PKGS=(redis-server redis-tools nginx)
LIBS=$(ldconfig -p 2>/dev/null || true)
for pair in libjemalloc.so.2=libjemalloc2 liblzf.so.1=liblzf1 libatomic.so.1=libatomic1 \
            libpcre2-8.so.0=libpcre2-8-0 libssl.so.3=libssl3 libsystemd.so.0=libsystemd0 \
            libcrypt.so.1=libcrypt1 libz.so.1=zlib1g; do
  grep -q "[[:space:]]${pair%%=*} " <<<"$LIBS" || PKGS+=("${pair#*=}")
done

rm -rf "$PREFIX/debs" "$PREFIX/root" "$PREFIX/bin"
mkdir -p "$PREFIX/debs" "$PREFIX/root" "$PREFIX/bin"
say "downloading ${PKGS[*]} into $PREFIX/debs"
if ! (cd "$PREFIX/debs" && apt-get download -q "${PKGS[@]}") >"$PREFIX/download.log" 2>&1; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  say "apt-get download failed; refreshing the apt lists (apt-get update) and retrying"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  (cd "$PREFIX/debs" && apt-get download -q "${PKGS[@]}") >"$PREFIX/download.log" 2>&1 ||
    { tail -n 20 "$PREFIX/download.log" >&2; say "apt-get download failed"; exit 1; }
fi
for deb in "$PREFIX"/debs/*.deb; do dpkg -x "$deb" "$PREFIX/root"; done
LIBDIR=$PREFIX/root/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for pair in redis-server=usr/bin/redis-server redis-cli=usr/bin/redis-cli nginx=usr/sbin/nginx; do
  bin=$PREFIX/root/${pair#*=}
  [[ -e $bin ]] || { say "${pair#*=} missing after unpacking"; exit 1; }
  printf '#!/bin/sh\nexport LD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\nexec "%s" "$@"\n' \
    "$LIBDIR" "$bin" >"$PREFIX/bin/${pair%%=*}"
  chmod +x "$PREFIX/bin/${pair%%=*}"
done
"$PREFIX/bin/redis-server" --version >&2
"$PREFIX/bin/nginx" -v 2>&1 | sed 's/^/hub-tools: /' >&2
echo "$STAMP" >"$PREFIX/stamp"
echo "redis-server: $PREFIX/bin/redis-server"
echo "nginx: $PREFIX/bin/nginx"
