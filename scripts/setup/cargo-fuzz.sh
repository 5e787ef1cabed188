#!/usr/bin/env bash
# Installs what the fuzzers need, idempotently: the nightly toolchain (cargo-fuzz needs
# -Zsanitizer) and a pinned cargo-fuzz in a repo-local root (.tools/cargo-fuzz).
# Prints the path of the cargo-fuzz binary on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
CARGO_FUZZ_VERSION=0.13.2
root="$PWD/.tools/cargo-fuzz"
bin="$root/bin/cargo-fuzz"
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal >&2
fi
if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $root" >&2
    cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --root "$root" >&2
fi
echo "$bin"
