#!/usr/bin/env bash
# scripts/tools/build-c-examples.sh — builds the C examples (examples/c) against libwsmachine.a.
#
#   scripts/tools/build-c-examples.sh
#
# Outputs target/c/echo_server and target/c/echo_client (git-ignored). Each is linked only
# against libwsmachine.a and libc, plus -lpthread -ldl -lm, which the Rust standard library
# inside the static library needs. Compiled as C11 with -Wall -Wextra -Wpedantic -Werror.
# Environment: CC (default cc), CFLAGS (default -O2 -g), CARGO (default cargo),
# CARGO_TARGET_DIR; WSM_SKIP_BUILD=1 uses the libwsmachine.a already built.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
CC=${CC:-cc}
CARGO=${CARGO:-cargo}
read -r -a OPT <<<"${CFLAGS:--O2 -g}"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
OUT=$TARGET/c
LIB=$TARGET/release/libwsmachine.a

if [[ ${WSM_SKIP_BUILD:-0} != 1 ]]; then
  "$CARGO" build --quiet -p wsmachine-ffi --release
fi
[[ -f $LIB ]] || { echo "build-c-examples: $LIB is missing" >&2; exit 1; }
mkdir -p "$OUT"
for name in echo_server echo_client; do
  "$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror "${OPT[@]}" -Iinclude \
    "examples/c/$name.c" "$LIB" -lpthread -ldl -lm -o "$OUT/$name"
  echo "built: $OUT/$name"
done
