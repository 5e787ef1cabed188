#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/, one after the other (one libFuzzer job at a time:
# the machine is small and shared), and prints the executions per target at the end.
#
#   scripts/test/fuzz.sh            60 s per target
#   scripts/test/fuzz.sh SECONDS    SECONDS per target
#   scripts/test/fuzz.sh --smoke    ~20 s per target (part of `make test`)
#   scripts/test/fuzz.sh --long     each target until 10^8 executions or 1 hour, whichever
#                                   comes first (FUZZ_RUNS, FUZZ_SECONDS change the bounds),
#                                   then minimises the corpus (make fuzz-long)
#   FUZZ_TARGETS="utf8 close_frame" scripts/test/fuzz.sh 30    only some targets
#
# Needs nightly (installed by rustup if missing) and a pinned cargo-fuzz, installed into
# .tools/cargo-fuzz by scripts/setup/cargo-fuzz.sh. Two corpora per target: fuzz/corpus/<target>/
# is committed (the seeds plus the minimised result of the long runs) and only read;
# what a run finds goes to fuzz/corpus-new/<target>/ (git-ignored). `--long` merges both
# into a minimised fuzz/corpus/<target>/ (libFuzzer -merge=1) and empties corpus-new.
# Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=60
runs=0
long=0
case "${1:-}" in
    --smoke) secs=20 ;;
    --long) long=1; secs=${FUZZ_SECONDS:-3600}; runs=${FUZZ_RUNS:-100000000} ;;
    "") ;;
    *[!0-9]*) echo "usage: $0 [SECONDS|--smoke]" >&2; exit 2 ;;
    *) secs=$1 ;;
esac
cargo_fuzz=$(bash scripts/setup/cargo-fuzz.sh)
export PATH="$(dirname "$cargo_fuzz"):$PATH"
targets=${FUZZ_TARGETS:-"handshake_server handshake_client conn_server conn_client utf8 close_frame deflate deflate_roundtrip hub_protocol"}
python3 fuzz/gen_seeds.py
cd fuzz
echo "fuzz: building targets (nightly, release, address sanitizer)"
cargo +nightly fuzz build -O >/dev/null
logdir=$(mktemp -d)
summary=()
status=0
for t in $targets; do
    mkdir -p "corpus/$t" "corpus-new/$t" "artifacts/$t"
    if [ "$runs" -gt 0 ]; then
        echo "fuzz: $t for ${secs}s or $runs executions ($(date -u +%H:%M) UTC)"
    else
        echo "fuzz: $t for ${secs}s"
    fi
    # -jobs=1 -workers=1: a single libFuzzer job in a child process, logging to fuzz-0.log.
    if (cd "$logdir" && rm -f fuzz-0.log && cargo +nightly fuzz run -O \
        --fuzz-dir "$OLDPWD" "$t" "$OLDPWD/corpus-new/$t" "$OLDPWD/corpus/$t" -- \
        -jobs=1 -workers=1 -max_total_time="$secs" -runs="$runs" -print_final_stats=1 -max_len=8192 \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OLDPWD/artifacts/$t/" \
        >"$logdir/$t.out" 2>&1); then
        ok=ok
    else
        ok=FAILED
        status=1
    fi
    log="$logdir/fuzz-0.log"
    [ -f "$log" ] && cp "$log" "$logdir/$t.log" || log="$logdir/$t.out"
    execs=$(grep -ho 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1)
    if [ -z "$execs" ]; then
        execs=$(grep -ho '^#[0-9]*' "$log" | tail -n1 | tr -d '#')
    fi
    secs_used=$(grep -ho 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | tr -dc 0-9 | tail -c 12)
    if [ "$long" = 1 ] && [ "$ok" = ok ]; then
        # Minimise: keep the inputs that add coverage, from the committed corpus and the new finds.
        min="corpus-min/$t"
        rm -rf "$min" && mkdir -p "$min"
        (cd "$logdir" && cargo +nightly fuzz run -O --fuzz-dir "$OLDPWD" "$t" -- \
            -merge=1 -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
            "$OLDPWD/$min" "$OLDPWD/corpus/$t" "$OLDPWD/corpus-new/$t" >"$logdir/$t.merge" 2>&1)
        find "corpus/$t" -maxdepth 1 -type f ! -name 'seed-*' -delete
        find "$min" -type f -exec cp -n -t "corpus/$t/" {} +
        rm -rf "$min" "corpus-new/$t"
    fi
    corpus=$(ls "corpus/$t" | wc -l)
    summary+=("$(printf '%-18s %-6s %12s execs  %6s s  %6s corpus files' "$t" "$ok" "${execs:-?}" "${secs_used:-?}" "$corpus")")
    if [ "$ok" = FAILED ]; then
        echo "fuzz: $t FAILED; log follows (artifacts in fuzz/artifacts/$t/)" >&2
        grep -v '^#' "$log" | tail -n 60 >&2
    fi
done
echo "fuzz: executions per target (at most ${secs}s each)"
for l in "${summary[@]}"; do echo "  $l"; done
rm -rf "$logdir"
exit $status
