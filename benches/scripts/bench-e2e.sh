#!/usr/bin/env bash
# benches/scripts/bench-e2e.sh — `make bench-e2e`: the end-to-end echo benchmark. Each echo
# server runs pinned to core 0 (taskset), the load generator (benches/e2e, `loadgen`: one
# thread, raw sockets, epoll) pinned to core 1. Writes docs/e2e.md and docs/e2e.svg.
#
#   bash benches/scripts/bench-e2e.sh           full run: 4 servers x {100, 500} connections x
#                                               {20 B, 512 B, 1 KiB, 8 KiB, 16 KiB} (1 s warm-up,
#                                               5 s measured each, 3 passes: the report keeps each
#                                               row's best), then 10,000 idle connections per
#                                               server; about 15 minutes
#   bash benches/scripts/bench-e2e.sh --quick   CI (`make bench-build`): 2 rows per server, 1 s
#                                               each, 200 idle connections; writes only under
#                                               target/bench-e2e, not docs/
#   bash benches/scripts/bench-e2e.sh --idle    only the idle test again: replaces its lines in
#                                               the last full run's results, rewrites the docs
#   bash benches/scripts/bench-e2e.sh --report  only rewrite the docs from the last full run
#
# Servers: wsmachine (wsmachine-tokio), fastwebsockets, tungstenite (tokio-tungstenite) — all
# three from `servers` in benches/e2e, each on a current_thread runtime — and c, the C poll(2)
# server examples/c/echo_server.c (scripts/tools/build-c-examples.sh). Every row starts a
# fresh server; within a row the servers take turns, so that noise from other jobs on the
# machine falls on all of them alike. The idle test also runs wsmachine-4k: wsmachine-tokio
# with a 4 KiB read buffer (Options::read_buffer_size) instead of the default 64 KiB.
#
# Environment: E2E_SECS (5), E2E_WARMUP_SECS (1), E2E_REPEAT (3 passes), E2E_IDLE (10000),
# E2E_SERVERS (all four), E2E_CONNS ("100 500"), E2E_SIZES ("20 512 1024 8192 16384");
# E2E_MAX_LOAD (1.5) and E2E_WAIT_S (600): a full run first waits, polling every 30 s for at
# most E2E_WAIT_S, until the 1-minute load average is at most E2E_MAX_LOAD, then measures
# anyway and says so.
# CARGO_TARGET_DIR is honoured. Results: target/bench-e2e/results.jsonl (one JSON object a
# line). Exits non-zero when any row failed (a connection error or a wrong echo), after
# writing the report.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
mode=${1:-full}
case $mode in
  full | --quick | --idle | --report) ;;
  *) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
say() { printf 'bench-e2e: %s\n' "$*" >&2; }

if [[ $mode == --quick ]]; then
  OUT=$TARGET/bench-e2e/quick
  SECS=1 WARMUP=0.3 IDLE=200 SETTLE=0.2 REPEAT=1
  CONNS=(100) SIZES=(20 16384)
else
  OUT=$TARGET/bench-e2e
  SECS=${E2E_SECS:-5} WARMUP=${E2E_WARMUP_SECS:-1} IDLE=${E2E_IDLE:-10000} SETTLE=1
  REPEAT=${E2E_REPEAT:-3}
  read -r -a CONNS <<<"${E2E_CONNS:-100 500}"
  read -r -a SIZES <<<"${E2E_SIZES:-20 512 1024 8192 16384}"
fi
read -r -a SERVERS <<<"${E2E_SERVERS:-wsmachine fastwebsockets tungstenite c}"
IDLE_SERVERS=("${SERVERS[@]}")
if [[ " ${SERVERS[*]} " == *" wsmachine "* ]]; then IDLE_SERVERS+=(wsmachine-4k); fi
RESULTS=$OUT/results.jsonl
META=$OUT/meta

report() {
  local md=docs/e2e.md svg=docs/e2e.svg
  if [[ $mode == --quick ]]; then md=$OUT/e2e.md svg=$OUT/e2e.svg; fi
  local args=(--notes docs/e2e-notes.md)
  while IFS= read -r line; do args+=(--meta "$line"); done <"$META"
  python3 "$HERE/report-e2e.py" --results "$RESULTS" --markdown "$md" --svg "$svg" "${args[@]}"
  say "wrote $md and $svg"
}

if [[ $mode == --report ]]; then
  report
  exit 0
fi

t_start=$(date +%s)
mkdir -p "$OUT"
# Build: the Rust servers and the load generator, and the C server (with libwsmachine.a).
say "building (cargo build --release -p wsmachine-bench-e2e; scripts/tools/build-c-examples.sh)"
cargo build --quiet --release -p wsmachine-bench-e2e
bash scripts/tools/build-c-examples.sh >/dev/null
BIN=$TARGET/release
CSERVER=$TARGET/c/echo_server

# File descriptors: each process needs one per connection (plus a few).
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]]; then
  ulimit -n "$hard"
  if (( hard < 20100 )); then
    say "note: hard limit on open files is $hard (< 20,100); each process needs $((IDLE + 100))"
  fi
  if (( hard < IDLE + 100 )); then
    IDLE=$((hard - 100))
    say "idle test lowered to $IDLE connections (open-file limit)"
  fi
else
  ulimit -n 1048576 2>/dev/null || true
fi

# Pinning: server on core 0, load generator on core 1.
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  PIN_SERVER=(taskset -c 0) PIN_LOADGEN=(taskset -c 1) pinning="server on CPU 0, load generator on CPU 1 (taskset)"
else
  PIN_SERVER=() PIN_LOADGEN=() pinning="not pinned (taskset missing or fewer than 2 CPUs)"
fi
say "$pinning"

# The C server's connection limit: --max-conns when it has it (else 64 slots, compiled in).
C_MAX_CONNS=0
c_help=$("$CSERVER" --help 2>&1 || true)
if [[ $c_help == *--max-conns* ]]; then C_MAX_CONNS=1; fi

load1() { cut -d' ' -f1 /proc/loadavg; }
if [[ $mode == full ]]; then
  max_load=${E2E_MAX_LOAD:-1.5} wait_s=${E2E_WAIT_S:-600} waited=0
  while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l > m) }'; do
    if (( waited >= wait_s )); then
      say "load still $(load1) after ${waited}s; measuring anyway (noted in the report)"
      break
    fi
    say "1-minute load $(load1) > $max_load; waiting (${waited}s so far)"
    sleep 30
    waited=$((waited + 30))
  done
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "1-minute load average at start: $(load1) (1/5/15 min: $load_start)"

SRV_PID=
stop_server() {
  if [[ -n $SRV_PID ]]; then
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
  fi
}
trap stop_server EXIT

# Starts server $1 on a free port (port 0; the server prints the one it got). Sets SRV_PID
# and SRV_PORT.
start_server() {
  local name=$1 log=$OUT/server-$1.log cmd i
  if [[ $name == c ]]; then
    cmd=("$CSERVER" --host 127.0.0.1 --port 0 --no-deflate --quiet --max-seconds 300)
    if [[ $C_MAX_CONNS == 1 ]]; then cmd+=(--max-conns $((IDLE + 100))); fi
  else
    cmd=("$BIN/servers" "$name" --host 127.0.0.1 --port 0 --max-seconds 300)
  fi
  : >"$log" # before the start: the background job's own redirection may come late
  "${PIN_SERVER[@]}" "${cmd[@]}" >>"$log" 2>&1 &
  SRV_PID=$!
  SRV_PORT=
  for ((i = 0; i < 100; i++)); do
    SRV_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
    [[ -n $SRV_PORT ]] && return 0
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.05
  done
  say "server $name did not start:"; cat "$log" >&2
  return 1
}

if [[ $mode == --idle ]]; then
  # Keep the echo rows of the last run; the idle lines are measured again.
  [[ -f $RESULTS ]] || { say "no $RESULTS to update: run a full pass first"; exit 1; }
  grep -v '"mode":"idle"\|"args":"idle' "$RESULTS" >"$RESULTS.echo" || true
  mv "$RESULTS.echo" "$RESULTS"
  REPEAT=0
else
  : >"$RESULTS"
fi
failed=0
# Runs the load generator against a fresh server $1 with the remaining arguments; appends its
# JSON line (or the error) to the results.
run() {
  local name=$1 line err; shift
  if ! start_server "$name"; then
    printf '{"server":"%s","args":"%s","error":"server did not start"}\n' "$name" "$*" >>"$RESULTS"
    failed=1
    return
  fi
  if line=$("${PIN_LOADGEN[@]}" timeout 180 "$BIN/loadgen" "$@" --port "$SRV_PORT" \
      --server-pid "$SRV_PID" 2>"$OUT/loadgen.err"); then
    printf '{"server":"%s","load1":%s,%s\n' "$name" "$(load1)" "${line#\{}" >>"$RESULTS"
    say "$name $*: $line"
  else
    err=$(tr '\n"\\' ' _/' <"$OUT/loadgen.err")
    printf '{"server":"%s","args":"%s","error":"%s"}\n' "$name" "$*" "$err" >>"$RESULTS"
    say "$name $*: FAILED: $err"
    failed=1
  fi
  stop_server
}

for ((rep = 1; rep <= REPEAT; rep++)); do
  say "pass $rep of $REPEAT"
  for n in "${CONNS[@]}"; do
    for size in "${SIZES[@]}"; do
      for s in "${SERVERS[@]}"; do
        if [[ $s == c && $C_MAX_CONNS == 0 ]] && (( n > 64 )); then
          if (( rep == 1 )); then
            printf '{"server":"c","mode":"echo","connections":%s,"size":%s,"skipped":"n/a (64-connection limit)"}\n' \
              "$n" "$size" >>"$RESULTS"
          fi
          continue
        fi
        run "$s" echo --connections "$n" --size "$size" --warmup-secs "$WARMUP" --secs "$SECS"
      done
    done
  done
done
for s in "${IDLE_SERVERS[@]}"; do
  if [[ $s == c && $C_MAX_CONNS == 0 ]]; then
    printf '{"server":"c","mode":"idle","connections":%s,"skipped":"n/a (64-connection limit)"}\n' \
      "$IDLE" >>"$RESULTS"
    continue
  fi
  run "$s" idle --connections "$IDLE" --settle-secs "$SETTLE"
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - t_start))
ver() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock; }
if [[ $mode == --idle ]]; then
  grep -v '^idle test=' "$META" >"$META.new" || true
  echo "idle test=measured again on $(date -u '+%Y-%m-%d %H:%M UTC') (bench-e2e.sh --idle, $IDLE connections)" >>"$META.new"
  mv "$META.new" "$META"
else
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs"
  echo "kernel=$(uname -sr)"
  echo "rustc=$(rustc --version)"
  echo "cc=$(${CC:-cc} --version | head -n 1)"
  echo "peers=tokio-tungstenite $(ver tokio-tungstenite) (tungstenite $(ver tungstenite)), fastwebsockets $(ver fastwebsockets) (hyper $(ver hyper)), tokio $(ver tokio)"
  echo "pinning=$pinning"
  echo "load (1/5/15 min)=$load_start at the start, $load_end at the end"
  echo "window=$WARMUP s warm-up, $SECS s measured per row, $REPEAT pass(es) (each row's best kept); a fresh server per row; idle test with $IDLE connections"
  echo "command=make bench-e2e (benches/scripts/bench-e2e.sh${mode/full/}), $elapsed s"
} >"$META"
fi
say "done in ${elapsed}s; load at end: $load_end"
report
if [[ $failed != 0 ]]; then
  say "some rows FAILED (see $RESULTS)"
  exit 1
fi
