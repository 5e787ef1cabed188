#!/usr/bin/env bash
# Footprint report (make footprint): for each target, builds the firmware images in release
# (opt-level "s", fat LTO, codegen-units 1, panic abort: firmware/Cargo.toml), runs each under
# QEMU for its measured stack high-water mark and its connection-state size, and prints a
# Markdown table:
#   flash      = every allocated section but RAM ones (vector table, .text, .rodata, riscv's
#                .eh_frame, ...) + .data (its initial values live in flash)
#   static RAM = .data + .bss + .uninit (riscv-rt's reserved .stack/.heap are not counted)
#   stack      = painted-stack high-water mark of the run (path executed, not a proof)
#   conn state = size_of of the connection type (wsmachine::Connection, or embedded-websocket's
#                WebSocket<_, Server/Client>)
# Images: empty (scaffolding), server / client / both (wsmachine), ews-* (embedded-websocket
# 0.9.5 doing the same work), and on the 64 KiB-RAM targets `deflate` (feature `deflate`: a
# client and a server exchanging permessage-deflate messages, codecs in statics, 9-bit windows).
# Every image also checks its work; a failed run fails the script.
#
#   scripts/tools/footprint.sh [-t "TARGETS"] [--no-build]
# Output goes to stdout (the table) and stderr (progress). Build output: firmware/target, or
# $CARGO_TARGET_DIR if set.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
targets="thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf"
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        -t) targets="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        *) echo "usage: $0 [-t TARGETS] [--no-build]" >&2; exit 2 ;;
    esac
done
images="empty server client both ews-server ews-client ews-both"

sysroot=$(rustc --print sysroot)
size_tool=$(find "$sysroot" -name llvm-size -type f 2>/dev/null | head -n1)
if [ -z "$size_tool" ]; then
    echo "footprint: llvm-size not found (run scripts/setup/embedded-tools.sh)" >&2
    exit 1
fi

# "flash data bss" of an ELF from its section table.
sizes() {
    "$size_tool" -A "$1" | awk '
        NR <= 2 || NF < 3 { next }
        $1 == "Total" || $1 == ".stack" || $1 == ".heap" { next }
        $1 ~ /^\.(debug|comment|ARM\.attributes|riscv\.attributes|symtab|strtab|shstrtab)/ { next }
        $1 ~ /^\.(s?data)/ { d += $2; next }
        $1 ~ /^\.(s?bss|uninit)/ { b += $2; next }
        { t += $2 }
        END { print t + d, d + 0, b + 0 }'
}

cd firmware
fail=0
echo "| target | image | flash (text+data) | flash − empty | static RAM (data+bss) | stack used | conn state |"
echo "|---|---|---:|---:|---:|---:|---:|"
for t in $targets; do
    if [ $build = 1 ]; then
        echo "footprint: building for $t" >&2
        cargo build -q --release --target "$t" -p wsm-fw -p fw-ews --bins >&2
        # About 43 KB of static RAM: not on the 16 KiB Cortex-M0.
        [ "$t" = thumbv6m-none-eabi ] ||
            cargo build -q --release --target "$t" -p wsm-fw --features deflate --bin deflate >&2
    fi
    dir="${CARGO_TARGET_DIR:-$root/firmware/target}/$t/release"
    base=""
    for img in $images deflate; do
        [ "$img" = deflate ] && [ "$t" = thumbv6m-none-eabi ] && continue
        read -r flash data bss < <(sizes "$dir/$img")
        [ "$img" = empty ] && base=$flash
        set +e
        out=$("$root/scripts/tools/run-qemu.sh" --timeout 30 "$dir/$img" 2>&1)
        rc=$?
        set -e
        stack=$(sed -n 's/^stack_used=//p' <<<"$out" | tail -n1)
        conn=$(sed -n 's/^conn_size=//p' <<<"$out" | tail -n1)
        if [ $rc -ne 0 ]; then
            echo "footprint: $t $img FAILED (exit $rc):" >&2
            sed 's/^/  | /' <<<"$out" >&2
            stack="run failed ($rc)"
            fail=1
        fi
        delta="–"
        [ "$img" != empty ] && delta=$((flash - base))
        label=$img
        case "$img" in
            empty) label="empty (scaffolding)"; conn="–" ;;
            server | client | both) label="**wsmachine $img**" ;;
            ews-*) label="embedded-websocket ${img#ews-}" ;;
            deflate) label="**wsmachine deflate** (client + server, 9-bit windows)" ;;
        esac
        echo "| $t | $label | $flash | $delta | $((data + bss)) | ${stack:-?} | ${conn:-?} |"
    done
done
exit $fail
