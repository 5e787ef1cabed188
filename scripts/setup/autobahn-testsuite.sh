#!/usr/bin/env bash
# scripts/setup/autobahn-testsuite.sh — install Autobahn|Testsuite (`wstest`) into the
# repository, without docker and without touching the system's packages.
#
# wstest 25.10.1 runs only on Python 2.7 (Twisted 19.10, autobahn 0.10.9), and
# Debian 12 no longer ships Python 2. So this script:
#   1. downloads Debian 11 (bullseye) python2.7 + libssl1.1 + libffi7 .debs
#      with a PRIVATE apt configuration (own sources list, lists, cache and an
#      empty dpkg status; the mirror URI is taken from this machine's apt
#      sources) and unpacks them with `dpkg -x` into $PREFIX/py27;
#   2. writes wrappers $PREFIX/bin/{python2.7,pip2.7,wstest} that point
#      LD_LIBRARY_PATH at the private libraries;
#   3. bootstraps pip 20.3.4 for that Python and installs the pinned set in
#      scripts/setup/requirements-autobahn-py27.txt plus autobahntestsuite==25.10.1.
#
# Usage: scripts/setup/autobahn-testsuite.sh [--force]
# Environment:
#   AUTOBAHN_PREFIX   install prefix (default: <repo>/.tools/autobahn, git-ignored)
#   AUTOBAHN_APT_URI  Debian mirror to use (default: the one in /etc/apt sources)
#   AUTOBAHN_WSACCEL  "no" skips the wsaccel C extension (default: build it if cc exists)
# Prints "wstest: PATH" on success. A second run with nothing changed takes ~1 s.
set -euo pipefail

ATS_VERSION=25.10.1
PY27_SUITE=bullseye
BOOT_PKGS=(pip==20.3.4 setuptools==44.0.0 wheel==0.37.1)
CYTHON_PIN=Cython==3.0.12   # build dependency of wsaccel 0.6.6

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
REQS=$HERE/requirements-autobahn-py27.txt
PREFIX=${AUTOBAHN_PREFIX:-$REPO/.tools/autobahn}
WORK=$PREFIX/work
PY=$PREFIX/py27

say() { printf 'autobahn-install: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[[ ${1:-} == --force ]] && FORCE=1 || FORCE=0
mkdir -p "$PREFIX"
exec 8>"$PREFIX/.lock"
flock -w 600 8 || die "another install holds $PREFIX/.lock"

STAMP="wstest=$ATS_VERSION suite=$PY27_SUITE reqs=$(sha256sum "$REQS" | cut -c1-12) installer=$(sha256sum "$0" | cut -c1-12)"
if [[ $FORCE == 0 && -f $PREFIX/stamp && $(<"$PREFIX/stamp") == "$STAMP" ]] &&
   "$PREFIX/bin/wstest" -a 2>/dev/null | grep -q "AutobahnTestSuite $ATS_VERSION"; then
  echo "wstest: $PREFIX/bin/wstest"
  exit 0
fi
rm -f "$PREFIX/stamp"
T0=$SECONDS

# ---------------------------------------------------------------------------
# 1. Python 2.7 from Debian bullseye, via a private apt configuration
# ---------------------------------------------------------------------------
mirror_uri() {
  if [[ -n ${AUTOBAHN_APT_URI:-} ]]; then echo "$AUTOBAHN_APT_URI"; return 0; fi
  local f
  # deb822 files: the URIs of a "Types: deb" stanza whose suites are not -security.
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk -v RS= '
      /(^|\n)Types:[^\n]*deb/ && !/Suites:[^\n]*-security/ {
        if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) {
          s = substr($0, RSTART, RLENGTH); sub(/^\n?URIs:[ \t]*/, "", s); print s; exit
        }
      }' "$f"
  done | head -n1 | grep . && return 0
  # one-line format
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" && !/security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' |
    head -n1 | grep .
}
URI=$(mirror_uri) || die "no Debian mirror found in /etc/apt; set AUTOBAHN_APT_URI"
APT=$WORK/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/prefs.d"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SIGNED=""; [[ -r $KEYRING ]] && SIGNED=" signed-by=$KEYRING"
echo "deb [arch=$(dpkg --print-architecture)$SIGNED] $URI $PY27_SUITE main" >"$APT/sources.list"
APT_OPTS=(
  -o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$APT/prefs.d"
  -o "Dir::State::Lists=$APT/lists" -o "Dir::State::status=/dev/null"
  -o "Dir::Cache=$APT" -o "Dir::Cache::archives=$APT/archives"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root" -o "Acquire::Languages=none"
  -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
  -o "Acquire::Retries=3"
)
private_apt() {
  local try
  for try in 1 2 3; do
    apt-get -q "${APT_OPTS[@]}" "$@" && return 0
    say "apt-get $1 failed (attempt $try/3)"; sleep 5
  done
  return 1
}

say "private apt ($PY27_SUITE main) -> $APT"
private_apt update >"$WORK/apt-update.log" 2>&1 || { tail -n 20 "$WORK/apt-update.log" >&2; die "apt-get update failed"; }

DEBS=(python2.7 python2.7-minimal libpython2.7 libpython2.7-minimal libpython2.7-stdlib
      python2.7-dev libpython2.7-dev libssl1.1 libffi7)
# Libraries python2.7's extension modules link against. Debian 12 has them all;
# on a leaner host, take bullseye's build of whatever is missing.
LIBS=$(ldconfig -p 2>/dev/null || true)
for pair in libz.so.1=zlib1g libbz2.so.1.0=libbz2-1.0 libexpat.so.1=libexpat1 \
            libsqlite3.so.0=libsqlite3-0 libreadline.so.8=libreadline8 libtinfo.so.6=libtinfo6 \
            libncursesw.so.6=libncursesw6 libdb-5.3.so=libdb5.3 libcrypt.so.1=libcrypt1 \
            libnsl.so.2=libnsl2 libtirpc.so.3=libtirpc3 libgdbm.so.6=libgdbm6 \
            libgdbm_compat.so.4=libgdbm-compat4; do
  grep -q "[[:space:]]${pair%%=*} " <<<"$LIBS" || DEBS+=("${pair#*=}")
done
SYSTEM_PIP=1
python3 -m pip --version >/dev/null 2>&1 || { SYSTEM_PIP=0; DEBS+=(python-pip-whl); }

rm -rf "$WORK/debs"; mkdir -p "$WORK/debs"
say "downloading ${#DEBS[@]} .debs: ${DEBS[*]}"
(cd "$WORK/debs" && private_apt download "${DEBS[@]}") >"$WORK/apt-download.log" 2>&1 ||
  { tail -n 20 "$WORK/apt-download.log" >&2; die "apt-get download failed"; }
rm -rf "$PY" "$PREFIX/bin"
mkdir -p "$PY" "$PREFIX/bin"
for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$PY"; done
PYBIN=$PY/usr/bin/python2.7
[[ -x $PYBIN ]] || die "python2.7 missing after unpacking"
SSL=$(find "$PY" -name 'libssl.so.1.1' -print -quit)
[[ -n $SSL ]] || die "libssl.so.1.1 missing after unpacking"
LIBDIR=$(dirname "$SSL")

# ---------------------------------------------------------------------------
# 2. wrappers
# ---------------------------------------------------------------------------
# Python finds its own prefix from the binary's location, so only the loader
# path is needed. User site-packages and PYTHON* variables are shut out.
ENVSH="export LD_LIBRARY_PATH='$LIBDIR'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export PYTHONNOUSERSITE=1
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP"
printf '#!/bin/sh\n%s\nexec "%s" "$@"\n' "$ENVSH" "$PYBIN" >"$PREFIX/bin/python2.7"
printf '#!/bin/sh\n%s\nunset PIP_USER PIP_TARGET PIP_PREFIX PIP_REQUIRE_VIRTUALENV\nexport PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1\nexec "%s" -m pip "$@"\n' \
  "$ENVSH" "$PYBIN" >"$PREFIX/bin/pip2.7"
# wstest's server modes always listen on 0.0.0.0. With WSTEST_LISTEN_INTERFACE
# set, this launcher makes every TCP listener of the (posix) reactor default to
# that address instead; otherwise it is the upstream entry point unchanged.
cat >"$PREFIX/bin/wstest_main.py" <<'EOF'
import os
import sys

iface = os.environ.get("WSTEST_LISTEN_INTERFACE")
if iface:
    from twisted.internet import posixbase

    _listen_tcp = posixbase.PosixReactorBase.listenTCP

    def listen_tcp(self, port, factory, backlog=50, interface=""):
        return _listen_tcp(self, port, factory, backlog, interface or iface)

    posixbase.PosixReactorBase.listenTCP = listen_tcp

from autobahntestsuite import wstest

sys.argv[0] = "wstest"
sys.exit(wstest.run())
EOF
printf '#!/bin/sh\n%s\nexec "%s" -u "%s" "$@"\n' "$ENVSH" "$PYBIN" "$PREFIX/bin/wstest_main.py" >"$PREFIX/bin/wstest"
chmod +x "$PREFIX/bin/python2.7" "$PREFIX/bin/pip2.7" "$PREFIX/bin/wstest"
"$PREFIX/bin/python2.7" -c 'import ssl, zlib, ctypes, json, sys; assert sys.version_info[:2] == (2, 7); print("python " + sys.version.split()[0] + ", " + ssl.OPENSSL_VERSION)' >&2 ||
  die "the private python2.7 does not work"

# ---------------------------------------------------------------------------
# 3. pip for Python 2.7, then wstest and its pinned dependencies
# ---------------------------------------------------------------------------
export PIP_CACHE_DIR=$WORK/pip-cache PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1
BOOT=$WORK/boot
rm -rf "$BOOT"; mkdir -p "$BOOT"
if [[ $SYSTEM_PIP == 1 ]]; then
  say "bootstrapping ${BOOT_PKGS[*]} (py2 wheels fetched by the system pip)"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 2.7 -d "$BOOT" "${BOOT_PKGS[@]}" ||
    die "could not download the pip bootstrap wheels"
  PIPWHL=$(ls "$BOOT"/pip-*.whl)
  "$PREFIX/bin/python2.7" "$PIPWHL/pip" install -q --no-warn-script-location --no-index --find-links "$BOOT" "${BOOT_PKGS[@]}"
else
  say "bootstrapping ${BOOT_PKGS[*]} (no system pip: using bullseye's python-pip-whl)"
  PIPWHL=$(ls "$PY"/usr/share/python-wheels/pip-*.whl)
  "$PREFIX/bin/python2.7" "$PIPWHL/pip" install -q --no-warn-script-location "${BOOT_PKGS[@]}"
fi

REQ_RUN=$WORK/requirements.txt
cp "$REQS" "$REQ_RUN"
if [[ ${AUTOBAHN_WSACCEL:-auto} != no ]] && command -v cc >/dev/null 2>&1; then
  # wsaccel compiles against the python2.7-dev headers unpacked above.
  export CFLAGS="-I$PY/usr/include/python2.7 -I$PY/usr/include ${CFLAGS:-}"
  echo "$CYTHON_PIN" >"$WORK/constraints.txt"
  export PIP_CONSTRAINT=$WORK/constraints.txt
else
  say "no C compiler (or AUTOBAHN_WSACCEL=no): skipping wsaccel; wstest will be slower"
  sed -i '/^wsaccel==/d' "$REQ_RUN"
fi
say "pip install autobahntestsuite==$ATS_VERSION and $(grep -c '^[A-Za-z]' "$REQ_RUN") pinned packages"
"$PREFIX/bin/pip2.7" install --no-warn-script-location -r "$REQ_RUN" "autobahntestsuite==$ATS_VERSION" \
  >"$WORK/pip-install.log" 2>&1 || { tail -n 30 "$WORK/pip-install.log" >&2; die "pip install failed (log: $WORK/pip-install.log)"; }

VERSION=$("$PREFIX/bin/wstest" -a 2>&1) || { echo "$VERSION" >&2; die "wstest -a failed"; }
grep -q "AutobahnTestSuite $ATS_VERSION" <<<"$VERSION" || { echo "$VERSION" >&2; die "unexpected wstest version"; }
"$PREFIX/bin/pip2.7" freeze >"$PREFIX/freeze.txt" 2>/dev/null || true
echo "$STAMP" >"$PREFIX/stamp"
say "installed in $((SECONDS - T0)) s ($(tr '\n' ' ' <<<"$VERSION"))"
echo "wstest: $PREFIX/bin/wstest"
