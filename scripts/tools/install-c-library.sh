#!/usr/bin/env bash
# scripts/tools/install-c-library.sh — installs the C library: what `make install PREFIX=...` runs.
#
#   scripts/tools/install-c-library.sh [PREFIX]        (default PREFIX: /usr/local)
#
# Builds libwsmachine (cargo build -p wsmachine-ffi --release) and installs
#   PREFIX/lib/libwsmachine.a            the static library
#   PREFIX/lib/libwsmachine.so           the shared library, when it was built
#   PREFIX/include/wsmachine.h           the header
#   PREFIX/lib/pkgconfig/wsmachine.pc    for pkg-config (Libs.private: -lpthread -ldl -lm,
#                                        which the static library needs)
# Use `pkg-config --cflags --libs --static wsmachine` to link the static library (add
# -Wl,-Bstatic -lwsmachine -Wl,-Bdynamic when the .so is installed beside it and you want
# the .a). Environment: DESTDIR (staged installs: files go to $DESTDIR$PREFIX, the .pc file
# still says PREFIX), CARGO, CARGO_TARGET_DIR; WSM_SKIP_BUILD=1 installs what is built.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PREFIX=${1:-${PREFIX:-/usr/local}}
[[ $PREFIX == /* ]] || PREFIX=$PWD/$PREFIX
PREFIX=${PREFIX%/}
DEST=${DESTDIR:-}$PREFIX
CARGO=${CARGO:-cargo}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
LIBDIR=$TARGET/release

if [[ ${WSM_SKIP_BUILD:-0} != 1 ]]; then
  (cd "$REPO" && "$CARGO" build --quiet -p wsmachine-ffi --release)
fi
[[ -f $LIBDIR/libwsmachine.a ]] || { echo "install: $LIBDIR/libwsmachine.a is missing" >&2; exit 1; }
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$REPO/Cargo.toml" | head -n1)
[[ -n $VERSION ]] || VERSION=0.0.0

install -d "$DEST/lib" "$DEST/lib/pkgconfig" "$DEST/include"
install -m 644 "$LIBDIR/libwsmachine.a" "$DEST/lib/libwsmachine.a"
if [[ -f $LIBDIR/libwsmachine.so ]]; then
  install -m 755 "$LIBDIR/libwsmachine.so" "$DEST/lib/libwsmachine.so"
fi
install -m 644 "$REPO/include/wsmachine.h" "$DEST/include/wsmachine.h"
cat >"$DEST/lib/pkgconfig/wsmachine.pc" <<PC
prefix=$PREFIX
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: wsmachine
Description: sans-IO WebSocket (RFC 6455) protocol engine, C interface
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lwsmachine
Libs.private: -lpthread -ldl -lm
PC
chmod 644 "$DEST/lib/pkgconfig/wsmachine.pc"
echo "install: wsmachine $VERSION -> $DEST (lib/libwsmachine.a$([[ -f $LIBDIR/libwsmachine.so ]] && echo ', lib/libwsmachine.so'), include/wsmachine.h, lib/pkgconfig/wsmachine.pc)"
