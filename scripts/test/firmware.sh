#!/usr/bin/env bash
# Firmware tests (make firmware; part of make test): builds the no_std, heap-free images
# for Cortex-M0 (thumbv6m-none-eabi, QEMU microbit), Cortex-M4F (thumbv7em-none-eabihf,
# QEMU mps2-an386) and RV32IMC (riscv32imc-unknown-none-elf, ESP32-C3 class, QEMU virt), runs
# each under QEMU with a timeout, and checks its exit status:
#   * checks (the on-target suite), the footprint images and the embedded-websocket anchor: 0
#   * deflate (permessage-deflate between a client and a server; not on the Cortex-M0): 0
#   * harness self-tests: a failed check 1, a panic 101, a fault 102, a hang 124 (timeout),
#     and an image that uses `alloc` must fail to build (no global allocator anywhere)
#   * the C image (firmware/c, arm-none-eabi-gcc, libwsmachine.a without std): 0, and its
#     failing/faulting variants 1 / 102
#   * the core with the defmt feature builds for thumbv7em-none-eabihf
# Ends with "N passed, M failed"; exits non-zero if anything failed. Needs what
# scripts/setup/embedded-tools.sh installs. Build output: firmware/target and target/ (or
# $CARGO_TARGET_DIR if set).
#   scripts/test/firmware.sh [-t "TARGETS"]
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
targets="thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf"
[ "${1:-}" = "-t" ] && targets="$2"

for tool in qemu-system-arm qemu-system-riscv32 arm-none-eabi-gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "test-firmware: $tool not found; run scripts/setup/embedded-tools.sh" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done

pass=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# expect NAME WANTED_STATUS command...: runs the command, compares its exit status.
expect() {
    local name="$1" want="$2"
    shift 2
    local t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    if [ "$rc" = "$want" ]; then
        pass=$((pass + 1))
        printf 'ok    %-58s (exit %s, %ss)\n' "$name" "$rc" "$((SECONDS - t0))"
    else
        failed=$((failed + 1))
        printf 'FAIL  %-58s (exit %s, wanted %s)\n' "$name" "$rc" "$want"
        tail -n 25 "$log" | sed 's/^/      | /'
    fi
}

# expect_build_failure NAME PATTERN command...: the build must fail, with PATTERN in its output.
expect_build_failure() {
    local name="$1" pattern="$2"
    shift 2
    if "$@" >"$log" 2>&1; then
        failed=$((failed + 1))
        echo "FAIL  $name (it built)"
    elif grep -q "$pattern" "$log"; then
        pass=$((pass + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        echo "FAIL  $name (failed for another reason)"
        tail -n 25 "$log" | sed 's/^/      | /'
    fi
}

run() { "$root/scripts/tools/run-qemu.sh" --timeout "${QEMU_TIMEOUT:-30}" "$@"; }

fw() { (cd "$root/firmware" && cargo "$@"); }

for t in $targets; do
    dir="${CARGO_TARGET_DIR:-$root/firmware/target}/$t/release"
    expect "$t: build images" 0 fw build -q --release --target "$t" -p wsm-fw -p fw-ews --bins
    for img in checks empty server client both selftest ews-server ews-client ews-both; do
        expect "$t: $img" 0 run "$dir/$img"
    done
    for f in check:1 panic:101 fault:102; do
        expect "$t: selftest-${f%%:*} fails with ${f#*:}" "${f#*:}" \
            sh -c "cd '$root/firmware' && cargo build -q --release --target $t -p wsm-fw --bin selftest --features selftest-${f%%:*} && '$root/scripts/tools/run-qemu.sh' '$dir/selftest'"
    done
    # permessage-deflate (client and server, codecs in statics, 9-bit windows): about 43 KB of
    # static RAM, so only on the 64 KiB-RAM targets, not the 16 KiB Cortex-M0.
    if [ "$t" != thumbv6m-none-eabi ]; then
        expect "$t: build the deflate image (--features deflate)" 0 \
            fw build -q --release --target "$t" -p wsm-fw --features deflate --bin deflate
        expect "$t: deflate" 0 run "$dir/deflate"
    fi
    expect "$t: selftest-hang times out (124)" 124 \
        sh -c "cd '$root/firmware' && cargo build -q --release --target $t -p wsm-fw --bin selftest --features selftest-hang && '$root/scripts/tools/run-qemu.sh' --timeout 3 '$dir/selftest'"
    expect_build_failure "$t: alloc-probe must not build (no allocator)" \
        "no global memory allocator" \
        fw build -q --release --target "$t" -p wsm-fw --bin alloc-probe --features alloc-probe
done

expect "firmware: rustfmt --check" 0 fw fmt -p wsm-fw -p fw-ews -- --check
expect "firmware: clippy -D warnings (thumbv7em-none-eabihf)" 0 \
    fw clippy -q --release --target thumbv7em-none-eabihf -p wsm-fw -p fw-ews --features wsm-fw/deflate --bins -- -D warnings

# The C ABI on the Cortex-M4F. The ffi crate's crate types are staticlib + cdylib; for a
# bare-metal target rustc drops the cdylib with a warning, so the plain build works, and
# `cargo rustc --crate-type staticlib` builds just the archive, without the warning.
c_lib="${CARGO_TARGET_DIR:-$root/target}/thumbv7em-none-eabihf/release/libwsmachine.a"
expect "ffi: cargo build --no-default-features (thumbv7em-none-eabihf)" 0 \
    cargo build -q -p wsmachine-ffi --release --no-default-features --target thumbv7em-none-eabihf
expect "ffi: libwsmachine.a (staticlib only, thumbv7em-none-eabihf)" 0 \
    cargo rustc -q -p wsmachine-ffi --release --no-default-features --target thumbv7em-none-eabihf --crate-type staticlib
expect "C: build images (arm-none-eabi-gcc -Wall -Wextra -Werror)" 0 \
    make -s -C firmware/c LIB="$c_lib" OUT="$root/firmware/target/c"
expect "C: c-checks" 0 run "$root/firmware/target/c/c-checks.elf"
expect "C: c-selftest-fail fails with 1" 1 run "$root/firmware/target/c/c-selftest-fail.elf"
expect "C: c-selftest-fault fails with 102" 102 run "$root/firmware/target/c/c-selftest-fault.elf"

expect "core: --features defmt builds (thumbv7em-none-eabihf)" 0 \
    cargo build -q -p wsmachine --features defmt --target thumbv7em-none-eabihf

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
