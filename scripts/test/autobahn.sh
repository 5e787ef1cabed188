#!/usr/bin/env bash
# scripts/test/autobahn.sh — RFC 6455 conformance with Autobahn|Testsuite, for every face of
# wsmachine: the Rust examples, the C examples, the Python face (wsmachine.asyncio, through
# examples/python/asyncio_echo.py and asyncio_client.py) and the tokio face's examples (crate
# wsmachine-tokio).
#
#   scripts/test/autobahn.sh [all|server|client]      (default: all)
#
# 1. installs wstest into .tools/autobahn (scripts/setup/autobahn-testsuite.sh; ~30 s
#    the first time, ~1 s after);
# 2. builds each face's echo server and client (Rust and tokio: cargo; C:
#    scripts/tools/build-c-examples.sh; Python: the wheel into .venv);
# 3. server mode: starts the face's echo server on a free 127.0.0.1 port and runs
#    `wstest -m fuzzingclient` against it;
# 4. client mode: starts `wstest -m fuzzingserver` on a free 127.0.0.1 port and
#    runs the face's client in its Autobahn-driver mode against it;
# 5. prints a per-group summary for each face and mode (scripts/test/autobahn-summary.py).
# Steps 3-5 run for up to AUTOBAHN_JOBS face/mode pairs at a time.
#
# Every face negotiates permessage-deflate (RFC 7692) by default, so the 12.* and
# 13.* cases run too. The Rust face uses the core's caller-memory codecs; the
# optional face "rust-zlib" is the same examples with --zlib (the zlib-rs backend).
#
# Exit status: 0 when every mode passes; 1 when a mode has a FAILED behaviour
# or close behaviour, or a NON-STRICT or UNIMPLEMENTED case in any group (see
# the summary script); 2 when a mode produced no report; 3 on a setup problem.
#
# Environment:
#   AUTOBAHN_FACES     which faces to test (default "rust c python tokio"; also "rust-zlib")
#   AUTOBAHN_SCOPE     "ci" (default, what `make test` runs): the Rust face runs all 517
#                      cases; the C, Python and tokio faces run groups 1-10 in full and a
#                      sample of 48 compression cases (messages 1, 4, 7 and 10 of every
#                      12.x and 13.x group: every parameter combination, small to large
#                      messages) — the full 216 compression cases cost ~10 min of CPU
#                      per face and mode, which `make test`'s 40-minute budget cannot
#                      hold eight times. (The tokio face runs the core's zlib-rs
#                      backend, which the Rust face's full run does not cover: its
#                      full run is `make conformance-full`.) "full" (`make conformance-full`): all 517 for
#                      every face.
#   AUTOBAHN_CASES     comma-separated case patterns to run, for every face (overrides
#                      AUTOBAHN_SCOPE)
#   AUTOBAHN_EXCLUDE   comma-separated case patterns to skip (default none)
#   AUTOBAHN_REPORTS   report directory (default <repo>/autobahn-reports); each
#                      face and mode writes <dir>/<face>-<mode> (HTML + JSON)
#   AUTOBAHN_TIMEOUT   limit for each mode in seconds (default 2400: the 216
#                      compression cases move ~2.5 GB through wstest's Python per mode)
#   AUTOBAHN_JOBS      how many face/mode runs go side by side (default 2: wstest
#                      is single-threaded; each run has its own ports and report)
#   AUTOBAHN_PREFIX    where wstest is installed (default <repo>/.tools/autobahn)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODES=${1:-all}
case $MODES in
  all) MODES="server client" ;;
  server | client) ;;
  *) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 3 ;;
esac
SCOPE=${AUTOBAHN_SCOPE:-ci}
case $SCOPE in ci | full) ;; *) echo "autobahn: AUTOBAHN_SCOPE must be ci or full" >&2; exit 3 ;; esac
CASES=${AUTOBAHN_CASES:-*}
# The compression sample of the "ci" scope (see AUTOBAHN_SCOPE).
SAMPLE="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
for g in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do
  for m in 1 4 7 10; do SAMPLE="$SAMPLE,$g.$m"; done
done
# The cases for one face.
cases_for() {
  if [[ -n ${AUTOBAHN_CASES:-} || $SCOPE == full || $1 == rust ]]; then
    echo "$CASES"
  else
    echo "$SAMPLE"
  fi
}
EXCLUDE=${AUTOBAHN_EXCLUDE:-}
REPORTS=${AUTOBAHN_REPORTS:-$REPO/autobahn-reports}
TIMEOUT=${AUTOBAHN_TIMEOUT:-2400}
JOBS=${AUTOBAHN_JOBS:-2}
FACES=${AUTOBAHN_FACES:-rust c python tokio}

say() { printf 'autobahn: %s\n' "$*"; }

# --- setup -------------------------------------------------------------------
WSTEST=$("$REPO/scripts/setup/autobahn-testsuite.sh" | sed -n 's/^wstest: //p')
[[ -x $WSTEST ]] || { say "wstest installation failed"; exit 3; }
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
CBIN=${CARGO_TARGET_DIR:-$REPO/target}/c
PY=$REPO/.venv/bin/python
for face in $FACES; do
  case $face in
    rust | rust-zlib)
      say "building the Rust examples (release)"
      (cd "$REPO" && cargo build --quiet --release -p wsmachine-examples --bins) || exit 3 ;;
    c)
      say "building the C examples"
      bash "$REPO/scripts/tools/build-c-examples.sh" >/dev/null || exit 3 ;;
    python)
      say "building the Python wheel into .venv"
      bash "$REPO/scripts/tools/build-wheel.sh" --install >/dev/null || exit 3 ;;
    tokio)
      say "building the tokio examples (release)"
      (cd "$REPO" && cargo build --quiet --release -p wsmachine-tokio --examples) || exit 3 ;;
    *) say "unknown face $face"; exit 3 ;;
  esac
done

# The echo server of a face, listening on 127.0.0.1:$2.
server_cmd() {
  case $1 in
    rust) echo "$BIN/echo-server --host 127.0.0.1 --port $2 --max-seconds $((TIMEOUT + 60))" ;;
    rust-zlib) echo "$BIN/echo-server --zlib --host 127.0.0.1 --port $2 --max-seconds $((TIMEOUT + 60))" ;;
    c) echo "$CBIN/echo_server --host 127.0.0.1 --port $2 --max-seconds $((TIMEOUT + 60))" ;;
    python) echo "$PY $REPO/examples/python/asyncio_echo.py --host 127.0.0.1 --port $2" ;;
    tokio) echo "$BIN/examples/echo_server --host 127.0.0.1 --port $2 --max-seconds $((TIMEOUT + 60))" ;;
  esac
}

# The Autobahn driver of a face: URL $2, agent $3.
client_cmd() {
  case $1 in
    rust) echo "$BIN/echo-client autobahn --url $2 --agent $3" ;;
    rust-zlib) echo "$BIN/echo-client autobahn --zlib --url $2 --agent $3" ;;
    c) echo "$CBIN/echo_client autobahn --url $2 --agent $3" ;;
    python) echo "$PY $REPO/examples/python/asyncio_client.py autobahn --url $2 --agent $3" ;;
    tokio) echo "$BIN/examples/autobahn_client --url $2 --agent $3" ;;
  esac
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# JSON spec for wstest: write_spec FILE KEY=VALUE... (values are JSON)
write_spec() {
  local file=$1; shift
  CASES="$CASES" EXCLUDE="$EXCLUDE" python3 - "$file" "$@" <<'EOF'
import json, os, sys
split = lambda s: [c.strip() for c in s.split(",") if c.strip()]
spec = {
    "options": {},
    "cases": split(os.environ["CASES"]) or ["*"],
    "exclude-cases": split(os.environ["EXCLUDE"]),
    "exclude-agent-cases": {},
}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    spec[k] = json.loads(v)
with open(sys.argv[1], "w") as f:
    json.dump(spec, f, indent=2)
EOF
}

# Waits (up to $2 seconds) until something listens on 127.0.0.1:$1.
wait_listening() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Kills a process we started (by PID), politely first.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- server mode: wstest fuzzingclient -> echo-server --------------------------
run_server_mode() {
  local face=$1 out=$REPORTS/$1-server port spid t0 rc
  local AGENT=wsmachine-$face
  rm -rf "$out"; mkdir -p "$out"
  port=$(free_port)
  # shellcheck disable=SC2046 # the command is a plain word list
  $(server_cmd "$face" "$port") >"$out/echo-server.log" 2>&1 &
  spid=$!; PIDS+=("$spid")
  wait_listening "$port" 10 || { cat "$out/echo-server.log"; say "echo-server did not start"; return 3; }
  write_spec "$out/spec.json" "outdir=\"$out\"" \
    "servers=[{\"agent\": \"$AGENT\", \"url\": \"ws://127.0.0.1:$port\"}]"
  say "$face server mode: wstest fuzzingclient -> echo server on 127.0.0.1:$port, cases [$CASES] exclude [$EXCLUDE]"
  t0=$SECONDS
  set +e
  (cd "$out" && timeout --kill-after=10 "$TIMEOUT" "$WSTEST" -m fuzzingclient -s spec.json >wstest.log 2>&1)
  rc=$?
  set -e
  stop_pid "$spid"
  echo "$face server $((SECONDS - t0)) s" >"$out/wall-time.txt"
  say "$face server mode: wstest exited $rc after $((SECONDS - t0)) s"
  [[ $rc == 0 ]] || tail -n 15 "$out/wstest.log"
  return 0
}

# --- client mode: echo-client -> wstest fuzzingserver --------------------------
run_client_mode() {
  local face=$1 out=$REPORTS/$1-client port wpid t0 rc
  local AGENT=wsmachine-$face
  rm -rf "$out"; mkdir -p "$out"
  port=$(free_port)
  write_spec "$out/spec.json" "outdir=\"$out\"" "url=\"ws://127.0.0.1:$port\""
  say "$face client mode: client -> wstest fuzzingserver on 127.0.0.1:$port, cases [$CASES] exclude [$EXCLUDE]"
  t0=$SECONDS
  # -u 0: no embedded web server. WSTEST_LISTEN_INTERFACE: the launcher written
  # by scripts/setup/autobahn-testsuite.sh binds 127.0.0.1 only (upstream binds 0.0.0.0).
  (cd "$out" && WSTEST_LISTEN_INTERFACE=127.0.0.1 exec timeout --kill-after=10 "$((TIMEOUT + 60))" \
    "$WSTEST" -m fuzzingserver -s spec.json -u 0 >wstest.log 2>&1) &
  wpid=$!; PIDS+=("$wpid")
  wait_listening "$port" 30 || { cat "$out/wstest.log"; say "fuzzingserver did not start"; return 3; }
  set +e
  # shellcheck disable=SC2046
  timeout --kill-after=10 "$TIMEOUT" $(client_cmd "$face" "ws://127.0.0.1:$port" "$AGENT") \
    >"$out/echo-client.log" 2>&1
  rc=$?
  set -e
  stop_pid "$wpid"
  echo "$face client $((SECONDS - t0)) s" >"$out/wall-time.txt"
  say "$face client mode: client exited $rc after $((SECONDS - t0)) s"
  [[ $rc == 0 ]] || tail -n 15 "$out/echo-client.log"
  return 0
}

# One face in one mode, in a subshell of its own (jobs run side by side): the report, the
# summary (also in <dir>/summary.txt) and the summary's exit status in <reports>/<job>.rc.
run_job() {
  local face=$1 mode=$2 rc=0
  local dir=$REPORTS/$face-$mode
  CASES=$(cases_for "$face")
  PIDS=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  "run_${mode}_mode" "$face" || rc=3
  if [[ $rc == 0 ]]; then
    set +e
    python3 "$HERE/autobahn-summary.py" "$dir" --label "$face $mode" >"$dir/summary.txt"
    rc=$?
    set -e
    cat "$dir/summary.txt"
    say "$face $mode report: $dir/index.html"
  fi
  echo "$rc" >"$REPORTS/$face-$mode.rc"
}

mkdir -p "$REPORTS"
ALL=()
for face in $FACES; do
  for mode in $MODES; do ALL+=("$face-$mode"); done
done
say "${#ALL[@]} runs (${ALL[*]}), up to $JOBS at a time; logs in $REPORTS/<face>-<mode>.log"
JOB_PIDS=()
stop_jobs() { local p; for p in "${JOB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_jobs; cleanup' EXIT
for job in "${ALL[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  rm -f "$REPORTS/$job.rc"
  run_job "${job%-*}" "${job##*-}" >"$REPORTS/$job.log" 2>&1 &
  JOB_PIDS+=($!)
done
for p in "${JOB_PIDS[@]}"; do wait "$p" || true; done
JOB_PIDS=()

STATUS=0
LAST_LINES=()
TIMES=()
for job in "${ALL[@]}"; do
  cat "$REPORTS/$job.log"
  rc=$(cat "$REPORTS/$job.rc" 2>/dev/null || echo 3)
  ((rc > STATUS)) && STATUS=$rc
  if [[ -f $REPORTS/$job/summary.txt ]]; then
    LAST_LINES+=("$(tail -n1 "$REPORTS/$job/summary.txt")")
  else
    LAST_LINES+=("autobahn[$job]: no report (exit $rc)")
  fi
  [[ -f $REPORTS/$job/wall-time.txt ]] && TIMES+=("$(<"$REPORTS/$job/wall-time.txt")")
done
echo
for line in "${LAST_LINES[@]}"; do echo "$line"; done
say "wall time: ${TIMES[*]}; total $SECONDS s with $JOBS jobs; exit $STATUS"
exit "$STATUS"
