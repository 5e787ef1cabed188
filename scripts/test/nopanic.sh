#!/usr/bin/env bash
# Link-time proof that the release build of the core has no reachable panic on a no_std
# target: builds firmware/nopanic (which calls the whole public API on opaque inputs and whose
# panic handler references an undefined symbol) for thumbv6m-none-eabi. If the link fails,
# relinks with a defined handler and lists the functions that still call into core's panic
# machinery, with the nearest source lines.
set -euo pipefail
cd "$(dirname "$0")/../../firmware"
target=thumbv6m-none-eabi
# 1. Strict: the post-handshake path links with the undefined-symbol panic handler.
if ! cargo build --quiet -p wsmachine-nopanic --features frames-only --release --target $target 2>/tmp/nopanic.err; then
    cat /tmp/nopanic.err >&2
    echo "nopanic: FAILED — the post-handshake path (frames, sends, close, timers) can panic" >&2
    exit 1
fi
echo "nopanic: OK — the post-handshake path has no panic site at all on $target"
# classify FEATURES KNOWN_REGEX LABEL: relinks with a defined handler and classifies every call
# into core's panic machinery by the source file it comes from. Sites in the known
# dependencies are listed (KNOWN) and reported; any other site fails the check.
classify() {
    local features=$1 known=$2 label=$3
    local sysroot objdump
    sysroot=$(rustc --print sysroot)
    objdump=$(find "$sysroot" -name llvm-objdump -type f | head -n1)
    if [ -z "$objdump" ]; then
        rustup component add llvm-tools >/dev/null 2>&1 || true
        objdump=$(find "$sysroot" -name llvm-objdump -type f | head -n1)
    fi
    if [ -z "$objdump" ]; then
        echo "nopanic: FAILED (and llvm-objdump is unavailable to say where)" >&2
        return 1
    fi
    CARGO_PROFILE_RELEASE_DEBUG=2 RUSTFLAGS="--cfg nopanic_debug" \
        cargo build --quiet -p wsmachine-nopanic $features --release --target $target
    "$objdump" -d -l --no-show-raw-insn "target/$target/release/wsmachine-nopanic" |
        KNOWN="$known" LABEL="$label" TARGET=$target python3 -c '
import os, re, sys
known = re.compile(os.environ["KNOWN"])
cur, src, sites = None, None, []
for line in sys.stdin:
    m = re.match(r"^[0-9a-f]+ <(.*)>:", line)
    if m:
        cur, src = m.group(1), None
        continue
    if line.startswith("; ") and re.search(r"\.rs:\d+", line):
        s = line[2:].strip()
        # Inlined core::slice helpers name core files; keep the caller (a dependency or ours).
        if "/library/core/" not in s or src is None:
            src = s
        continue
    m = re.search(r"\sbl\s+0x[0-9a-f]+ <([^>]*)>", line)
    if m and re.search(r"panicking|index_fail|len_mismatch|unwrap_failed|expect_failed|panic_bounds", m.group(1)) and "4core" not in cur:
        sites.append((cur, src or "?"))
bad = [s for s in sites if not (known.search(s[1]) or known.search(s[0]))]
for cur, src in sites:
    tag = "KNOWN (dependency)" if (cur, src) not in bad else "NEW"
    print("  %-20s %s  [in %s]" % (tag, re.sub(r".*/registry/src/[^/]+/", "", src).replace("/work/main/", ""), cur[:48]))
label, target = os.environ["LABEL"], os.environ["TARGET"]
if bad:
    print("nopanic: FAILED (%s) — %d panic site(s) outside the known dependencies" % (label, len(bad)))
    sys.exit(1)
print("nopanic: OK (%s) — no reachable panic in wsmachine itself on %s; %d known site(s) in dependencies (listed above; see docs/security.md)" % (label, target, len(sites)))
'
}

# 2. Everything, including the handshake parsers. Panic sites inside httparse (the HTTP parser
# the project uses; its internal bounds checks are not provably dead to the optimizer) are
# known and reported.
status=0
if cargo build --quiet -p wsmachine-nopanic --release --target $target 2>/tmp/nopanic.err; then
    echo "nopanic: OK — no reachable panic in the core on $target (opt-level s, LTO)"
elif grep -q wsmachine_core_has_a_reachable_panic /tmp/nopanic.err; then
    classify "" "/httparse-1\.10\.1/|8httparse" "the whole core" || status=1
else
    cat /tmp/nopanic.err >&2
    exit 1
fi
# 3. With permessage-deflate (feature `deflate`): Config::deflate on every connection, inflate
# of every compressed chunk with the Inflater, compressed sends with the Deflater, the
# negotiation helpers. The Inflater runs miniz_oxide's inflate core, whose internal bounds
# checks the optimizer cannot prove dead: those sites are listed; any other one fails.
for variant in "frames-only,deflate:the post-handshake path with deflate" "deflate:the whole core with deflate"; do
    features="--features ${variant%%:*}"
    label=${variant#*:}
    if cargo build --quiet -p wsmachine-nopanic $features --release --target $target 2>/tmp/nopanic.err; then
        echo "nopanic: OK — $label: no panic site at all on $target"
    elif grep -q wsmachine_core_has_a_reachable_panic /tmp/nopanic.err; then
        classify "$features" "/httparse-1\.10\.1/|8httparse|/miniz_oxide-0\.9\.1/src/inflate/" "$label" || status=1
    else
        cat /tmp/nopanic.err >&2
        exit 1
    fi
done
exit $status
