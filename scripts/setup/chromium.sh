#!/usr/bin/env bash
# scripts/setup/chromium.sh — the headless browser of the interop tests (tests/interop/node):
# installs the Debian package `chromium` SYSTEM-WIDE when no `chromium` is on PATH (idempotent;
# nothing is ever removed). apt-get update runs only if something has to be installed; apt
# runs as root, or through sudo otherwise. Prints "chromium: PATH (VERSION)" on its last line.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    # DPkg::Lock::Timeout: wait for another apt/dpkg instead of failing.
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium >&2
fi
# (Debian's launcher script may print a harmless shell warning on stderr.)
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null | head -n1))"
