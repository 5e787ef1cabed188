#!/usr/bin/env bash
# Installs what the Rust side of the test command needs on a fresh Debian 12 machine with
# rustup: the no_std cross targets and the clippy/rustfmt components. Idempotent.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust with rustup first (https://rustup.rs)" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    installed=$(rustup target list --installed)
    for t in thumbv6m-none-eabi riscv32imc-unknown-none-elf; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t"
    done
    comps=$(rustup component list --installed)
    for c in clippy rustfmt; do
        grep -q "^$c" <<<"$comps" || rustup component add "$c"
    done
else
    echo "setup: rustup not found; assuming the toolchain already has the no_std targets" >&2
fi
