#!/usr/bin/env bash
# benches/scripts/bench-c.sh — the C benchmark (benches/c/bench.c): libwsmachine.a against wslay
# (Debian's libwslay-dev, installed with apt-get when missing) on decode and encode, plus the
# C ABI's figures for the FFI-overhead comparison with the Rust core. Part of `make bench`.
#   --json OUT   where to write the results (default target/bench/c.json)
#   --build      only build target/bench/bench-c (CI: `make bench-build`, so it cannot rot)
#   BENCH_C_MS   milliseconds per figure (default 300)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
OUT=target/bench/c.json
BUILD_ONLY=0
if [[ ${1:-} == --json ]]; then OUT=$2; fi
if [[ ${1:-} == --build ]]; then BUILD_ONLY=1; fi
mkdir -p "$(dirname "$OUT")"
if [[ ! -f /usr/include/wslay/wslay.h ]]; then
  echo "bench-c: installing libwslay-dev" >&2
  if ! apt-get install -y -qq libwslay-dev >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && apt-get install -y -qq libwslay-dev >/dev/null
  fi
fi
cargo build --quiet --release -p wsmachine-ffi
CC=${CC:-cc}
"$CC" -std=c11 -O2 -Wall -Wextra -Werror -Iinclude benches/c/bench.c target/release/libwsmachine.a \
  -lwslay -lpthread -ldl -lm -o target/bench/bench-c
if [[ $BUILD_ONLY == 1 ]]; then
  echo "bench-c: built target/bench/bench-c" >&2
  exit 0
fi
echo "bench-c: running (results in $OUT)" >&2
target/bench/bench-c --ms "${BENCH_C_MS:-300}" --json "$OUT"
