#!/usr/bin/env bash
# scripts/setup/node-interop.sh — the Node side of the interop tests: installs Node.js and npm
# (Debian packages `nodejs` and `npm`, system-wide) when `node` or `npm` is missing, then the
# exactly pinned packages of tests/interop/node/package.json (ws, playwright-core) into
# tests/interop/node/node_modules (inside the repository, git-ignored, as is the
# package-lock.json npm writes). Idempotent: a stamp with the hash of package.json and the
# Node version skips npm when nothing changed. playwright-core downloads no browser; the tests
# use the Debian chromium (scripts/setup/chromium.sh). Prints "node: VERSION" last.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=$(cd "$HERE/../../tests/interop/node" && pwd)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends nodejs npm >&2
fi
WANT="$(sha256sum "$DIR/package.json" | cut -c1-16) $(node --version)"
STAMP=$DIR/node_modules/.wsmachine-stamp
if [[ ! -f $STAMP || $(<"$STAMP") != "$WANT" ]]; then
    (cd "$DIR" && timeout 600 npm install --no-audit --no-fund --loglevel=error >&2)
    echo "$WANT" >"$STAMP"
fi
echo "node: $(node --version)"
