#!/usr/bin/env bash
# Runs one bare-metal ELF under QEMU with semihosting; exits with the firmware's exit status.
#
#   scripts/tools/run-qemu.sh [--machine M] [--timeout S] path/to/image.elf
#
# Also the cargo runner of the firmware workspace (firmware/.cargo/config.toml), so
# `cargo run --release -p wsm-fw --bin checks --target thumbv6m-none-eabi` runs QEMU.
#
# The board comes from the ELF (override: --machine or $QEMU_MACHINE):
#   ARMv6-M  (thumbv6m-none-eabi)        qemu-system-arm -machine microbit    (Cortex-M0)
#   ARMv7E-M (thumbv7em-none-eabihf)     qemu-system-arm -machine mps2-an386  (Cortex-M4F)
#   RISC-V 32 (riscv32imc-unknown-none-elf) qemu-system-riscv32 -machine virt -bios none
#
# Exit status: the firmware's (0 pass, 1 failed check, 101 panic, 102 fault), 124 timeout
# (--timeout S or $QEMU_TIMEOUT, default 30 s), 2 bad ELF or usage, 127 QEMU missing.
set -u

machine="${QEMU_MACHINE:-}"
tmo="${QEMU_TIMEOUT:-30}"
while [ $# -gt 0 ]; do
    case "$1" in
        --machine) machine="$2"; shift 2 ;;
        --timeout) tmo="$2"; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
elf="${1:-}"
if [ -z "$elf" ] || [ ! -f "$elf" ]; then
    echo "run-qemu: no such ELF: '$elf'" >&2
    exit 2
fi

header=$(LC_ALL=C readelf -h "$elf" 2>/dev/null)
case "$header" in
    *"Machine:"*ARM*)
        qemu=qemu-system-arm
        if [ -z "$machine" ]; then
            arch=$(LC_ALL=C readelf -A "$elf" | sed -n 's/^ *Tag_CPU_arch: *//p' | head -n1)
            case "$arch" in
                v6S-M | v6-M) machine=microbit ;;
                v7E-M) machine=mps2-an386 ;;
                *) echo "run-qemu: no board for ARM arch '$arch' ($elf); pass --machine" >&2; exit 2 ;;
            esac
        fi
        ;;
    *"Machine:"*RISC-V*)
        qemu=qemu-system-riscv32
        machine="${machine:-virt}"
        ;;
    *)
        echo "run-qemu: not an ARM or RISC-V ELF: $elf" >&2
        exit 2
        ;;
esac
if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "run-qemu: $qemu is not installed (run scripts/setup/embedded-tools.sh)" >&2
    exit 127
fi

args=(-machine "$machine" -nographic -monitor none -serial none
    -semihosting-config enable=on,target=native -kernel "$elf")
[ "$machine" = virt ] && args+=(-bios none)
[ -n "${RUN_QEMU_VERBOSE:-}" ] && echo "run-qemu: timeout ${tmo}s $qemu ${args[*]}" >&2

# -k: SIGKILL 5 s after the SIGTERM if QEMU does not stop.
timeout -k 5 "$tmo" "$qemu" "${args[@]}" </dev/null
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "run-qemu: TIMEOUT after ${tmo}s ($elf on $machine)" >&2
    exit 124
fi
exit $rc
