#!/usr/bin/env bash
# Runs the core's unit and integration tests and the ffi crate's Rust tests under Miri
# (undefined-behaviour checker), installing the miri component for nightly if missing.
# Heavy tests shrink under cfg(miri) or are skipped with #[cfg_attr(miri, ignore)]; see
# docs/security.md for the list.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! rustup +nightly component list --installed | grep -q '^miri'; then
    rustup +nightly component add miri rust-src
fi
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup
# One case per property under Miri (each case is ~1000x slower there); properties with an
# explicit configuration use cfg!(miri) themselves.
export PROPTEST_CASES=${PROPTEST_CASES:-1}
# Isolation off: proptest looks up the working directory for its failure-persistence files.
export MIRIFLAGS=${MIRIFLAGS:-"-Zmiri-strict-provenance -Zmiri-disable-isolation"}
start=$SECONDS
cargo +nightly miri test -p wsmachine --lib --tests
cargo +nightly miri test -p wsmachine-ffi --lib
echo "miri: OK in $((SECONDS - start))s"
