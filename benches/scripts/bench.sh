#!/usr/bin/env bash
# benches/scripts/bench.sh — `make bench`: every benchmark, one table, docs/benchmarks.md and
# docs/benchmarks.png.
#
#   bash benches/scripts/bench.sh           run everything (about 8 minutes on 2 cores)
#   bash benches/scripts/bench.sh --fast    CI: only build the Rust and C benchmarks (so they cannot rot)
#                                           (benches/ and benches/deflate, the permessage-deflate table)
#   bash benches/scripts/bench.sh --rust    only the Rust benchmarks + report (no C, no Python)
#   bash benches/scripts/bench.sh --report  only rewrite the docs from the last run's results
#   bash benches/scripts/bench.sh --python  only the Python benchmarks; their tables, goal rows and
#                                           a meta line replace those in docs/benchmarks.md
#
# Steps: wait until the machine is quiet (1-minute load <= BENCH_MAX_LOAD, default 1.2,
# polled every 30 s for at most BENCH_WAIT_S, default 1200 s; then it measures anyway and says
# so), the Criterion benchmarks (crate benches/, target/criterion), benches/scripts/bench-c.sh,
# benches/scripts/bench-python.sh, then benches/scripts/report.py prints the table and writes
# the docs.
# WSMB_WARMUP_MS / WSMB_MEASURE_MS / WSMB_SAMPLES tune Criterion (benches/src/lib.rs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"

mode=${1:-all}
if [[ $mode == --fast ]]; then
  # One build for both packages (their features unify here; only the measuring runs keep the
  # core's `zlib` feature out of the main benchmarks).
  cargo bench --no-run -p wsmachine-benches -p wsmachine-benches-deflate
  exec bash "$HERE/bench-c.sh" --build
fi

wait_quiet() {
  load1() { cut -d' ' -f1 /proc/loadavg; }
  max_load=${BENCH_MAX_LOAD:-1.2}
  wait_s=${BENCH_WAIT_S:-1200}
  waited=0
  while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l > m) }'; do
    if (( waited >= wait_s )); then
      echo "bench: load still $(load1) after ${waited}s; measuring anyway (noted in the report)" >&2
      break
    fi
    echo "bench: 1-minute load $(load1) > $max_load; waiting (${waited}s so far)" >&2
    sleep 30
    waited=$((waited + 30))
  done
  load_start=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "bench: load at start: $load_start" >&2
}

if [[ $mode == --python ]]; then
  wait_quiet
  bash "$HERE/bench-python.sh"
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
  PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n 1)
  "$PY" "$HERE/report.py" --python-only --markdown docs/benchmarks.md --notes docs/benchmarks-notes.md \
    --py-sansio target/bench/py-sansio.json --py-echo target/bench/py-echo.json \
    --py-memory target/bench/py-memory.json --py-rr target/bench/py-rr.json \
    --meta "Python figures=$(date -u +%Y-%m-%d), \`bench.sh --python\`, load $load_start at the start, $load_end at the end (the other figures are from the date above)"
  echo "bench: wrote the Python parts of docs/benchmarks.md" >&2
  exit 0
fi

if [[ $mode != --report ]]; then
  wait_quiet

  # Rust: every bench target of the crate, fresh results only.
  rm -rf target/criterion
  mkdir -p target/bench
  echo "bench: Rust benchmarks (log: target/bench/criterion.log)" >&2
  # permessage-deflate in a run of its own (its package enables the core's `zlib` feature);
  # bytes on the wire per message land in target/tmp/deflate-wire.json.
  if ! { cargo bench -p wsmachine-benches && cargo bench -p wsmachine-benches-deflate; } \
      >target/bench/criterion.log 2>&1; then
    tail -n 30 target/bench/criterion.log >&2
    echo "bench: the Rust benchmarks failed" >&2
    exit 1
  fi
  echo "bench: $(grep -c 'time:' target/bench/criterion.log) Criterion figures" >&2

  if [[ $mode != --rust ]]; then
    bash "$HERE/bench-c.sh" --json target/bench/c.json
    bash "$HERE/bench-python.sh"
  fi
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
  printf '%s\n' "$(date -u +%Y-%m-%d)" "$load_start" "$load_end" "$mode" >target/bench/meta
fi
{ read -r run_date; read -r load_start; read -r load_end; read -r run_mode; } <target/bench/meta
args=()
if [[ $run_mode != --rust ]]; then
  args+=(--c target/bench/c.json --py-sansio target/bench/py-sansio.json
         --py-echo target/bench/py-echo.json --py-memory target/bench/py-memory.json
         --py-rr target/bench/py-rr.json)
fi
PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n 1)
PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q -r "$HERE/requirements-bench.txt" >&2
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(sse4_2|avx2|avx512bw|sha_ni)$' | tr '\n' ' ')
"$PY" "$HERE/report.py" --criterion target/criterion \
  --markdown docs/benchmarks.md --png docs/benchmarks.png \
  --notes docs/benchmarks-notes.md \
  --deflate-wire target/tmp/deflate-wire.json \
  --meta "date=$run_date" \
  --meta "CPU=$cpu, $(nproc) cores (${flags% })" \
  --meta "rustc=$(rustc --version)" \
  --meta "load (1/5/15 min)=$load_start at the start, $load_end at the end (machine shared with other jobs)" \
  --meta "command=make bench (benches/scripts/bench.sh)" \
  "${args[@]}"
echo "bench: wrote docs/benchmarks.md and docs/benchmarks.png" >&2
