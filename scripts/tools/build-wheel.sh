#!/usr/bin/env bash
# scripts/tools/build-wheel.sh — build the Python wheel (one abi3 wheel for CPython >= 3.9, import
# name `wsmachine`) into <repo>/dist (git-ignored) with the pinned maturin of the repo venv
# (scripts/setup/python-venv.sh). Prints the wheel's path on its last line.
#
# The wheel is manylinux2014 (manylinux_2_17, x86_64 or aarch64 as the host): maturin links the
# extension with zig (the pinned `ziglang` package of the venv) against glibc 2.17's symbols, so
# the same wheel installs on any glibc >= 2.17 distribution, and maturin's audit fails the build
# if the library needed anything newer. The library is stripped (no debug info in the wheel).
# The wheel needs no Rust toolchain to install (python.sh checks that in a fresh venv).
#   --install   also (re)install the wheel into <repo>/.venv
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n 1)
VENV_BIN=$(dirname "$PY")
mkdir -p "$REPO/dist"
rm -f "$REPO"/dist/wsmachine-*.whl
# maturin runs zig as `python3 -m ziglang`: the venv's python3 must come first on PATH.
(cd "$REPO" && PATH="$VENV_BIN:$PATH" "$VENV_BIN/maturin" build --quiet --release --strip \
  --zig --compatibility manylinux2014 -m python/Cargo.toml --out dist >&2)
WHEEL=$(ls "$REPO"/dist/wsmachine-*.whl)
case $(basename "$WHEEL") in
  *-cp39-abi3-manylinux2014_*.manylinux_2_17_*.whl) ;;
  *) echo "build-wheel: unexpected wheel tag: $(basename "$WHEEL")" >&2; exit 1 ;;
esac
echo "build-wheel: $(basename "$WHEEL") ($(stat -c %s "$WHEEL") bytes)" >&2
if [[ ${1:-} == --install ]]; then
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q --force-reinstall --no-deps "$WHEEL" >&2
fi
echo "$WHEEL"
