#!/usr/bin/env bash
# Installs what the firmware tests and the footprint report need (idempotent; ~1 s when
# everything is there):
#   * Rust targets (rustup): thumbv6m-none-eabi (Cortex-M0), thumbv7em-none-eabihf (Cortex-M4F),
#     riscv32imc-unknown-none-elf (ESP32-C3 class), and the llvm-tools component (llvm-size)
#   * Debian packages, when missing: qemu-system-arm (microbit, mps2-an386 boards),
#     qemu-system-misc (qemu-system-riscv32, virt board), gcc-arm-none-eabi (the C firmware;
#     it brings binutils-arm-none-eabi)
# apt-get update runs once, and only if something has to be installed. Runs apt as root, or
# through sudo otherwise.
set -euo pipefail

targets="thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf"
if command -v rustup >/dev/null 2>&1; then
    installed=$(rustup target list --installed)
    missing=""
    for t in $targets; do
        grep -qx "$t" <<<"$installed" || missing="$missing $t"
    done
    # shellcheck disable=SC2086
    [ -z "$missing" ] || rustup target add $missing
    rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
else
    echo "setup-embedded: rustup not found; assuming the toolchain has: $targets, llvm-tools" >&2
fi

pkgs=""
command -v qemu-system-arm >/dev/null 2>&1 || pkgs="$pkgs qemu-system-arm"
command -v qemu-system-riscv32 >/dev/null 2>&1 || pkgs="$pkgs qemu-system-misc"
command -v arm-none-eabi-gcc >/dev/null 2>&1 || pkgs="$pkgs gcc-arm-none-eabi"
if [ -n "$pkgs" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    # DPkg::Lock::Timeout: wait for another apt/dpkg instead of failing.
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
    # shellcheck disable=SC2086
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $pkgs
fi

echo "setup-embedded: ok"
echo "  $(qemu-system-arm --version | head -n1)"
echo "  $(qemu-system-riscv32 --version | head -n1)"
echo "  $(arm-none-eabi-gcc --version | head -n1)"
