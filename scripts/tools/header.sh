#!/usr/bin/env bash
# Regenerates include/wsmachine.h with the pinned cbindgen.
#   scripts/tools/header.sh          rewrite include/wsmachine.h
#   scripts/tools/header.sh --check  fail if the checked-in header differs from a fresh one
set -euo pipefail
cd "$(dirname "$0")/../.."
CBINDGEN_VERSION=0.29.4
bin=.tools/cbindgen/bin/cbindgen
if ! { [ -x "$bin" ] && "$bin" --version | grep -qx "cbindgen $CBINDGEN_VERSION"; }; then
    echo "header: installing cbindgen $CBINDGEN_VERSION into .tools/cbindgen" >&2
    cargo install --quiet cbindgen --version "=$CBINDGEN_VERSION" --locked --root .tools/cbindgen
fi
gen() { "$bin" --quiet --config ffi/cbindgen.toml --crate wsmachine-ffi --output "$1" ffi; }
if [ "${1:-}" = "--check" ]; then
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    gen "$tmp"
    if ! diff -u include/wsmachine.h "$tmp"; then
        echo "header: include/wsmachine.h is out of date; run scripts/tools/header.sh (make header)" >&2
        exit 1
    fi
    echo "header: include/wsmachine.h is up to date"
else
    gen include/wsmachine.h
    echo "header: wrote include/wsmachine.h"
fi
