#!/usr/bin/env bash
# scripts/tools/load.sh — `make load`: load and fault scenarios against wsmachine-hub on this
# machine (loopback), with benches/hub-load; writes docs/load.md and docs/load.svg.
#
#   bash scripts/tools/load.sh           the standard scenarios at full scale (~5 minutes):
#                                        10,000 idle connections, fan-out to 1,000 and 10,000,
#                                        a 5,000-client reconnect storm, 10 % of 200 subscribers
#                                        slow (close and drop-oldest policies; the slow ones have
#                                        4 KiB receive buffers, and the hub's kernel send buffers
#                                        take megabytes first), descriptor exhaustion
#   bash scripts/tools/load.sh --quick   the same at small scale (~1 minute; part of make test
#                                        through scripts/test/hub.sh): results only in
#                                        target/load/, invariants checked, docs untouched
#
# Each hub is started here on a free 127.0.0.1 port and stopped by PID. The open-file limit
# is raised to the hard limit; the scale shrinks (and says so) when the hard limit is too low.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
quick=0
[[ ${1:-} == --quick ]] && quick=1
cargo build --quiet --release -p wsmachine-hub -p wsmachine-hub-load
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET/release
OUT=$TARGET/load
mkdir -p "$OUT"
JSON=$OUT/results.jsonl
: >"$JSON"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
if ((quick)); then
  IDLE=300 FAN1=100 FAN2=300 FANMSG=100 STORM=200 EXH=400 EXHLIMIT=256
  SLOW=20 SLOWSIZE=4096 SLOWRATE=1000 SLOWSECS=5
else
  IDLE=10000 FAN1=1000 FAN2=10000 FANMSG=200 STORM=5000 EXH=1500 EXHLIMIT=1024
  SLOW=200 SLOWSIZE=1024 SLOWRATE=1000 SLOWSECS=15
fi
# The driver and the hub each hold one descriptor per connection (plus a few).
max=$(( (NOFILE - 200) ))
for v in IDLE FAN2 STORM; do
  if (( ${!v} > max )); then
    echo "load: open-file limit $NOFILE: $v lowered from ${!v} to $max" >&2
    printf -v "$v" '%s' "$max"
  fi
done

HUB_PID=""
stop_hub() {
  [[ -n $HUB_PID ]] || return 0
  kill -TERM "$HUB_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$HUB_PID" 2>/dev/null || true
  wait "$HUB_PID" 2>/dev/null || true
  HUB_PID=""
}
trap stop_hub EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_hub NOFILE_LIMIT ARGS...: a hub with that open-file limit; sets HUB_PID and URL.
start_hub() {
  local limit=$1 port
  shift
  port=$(free_port)
  (ulimit -n "$limit"; exec "$BIN/wsmachine-hub" --port "$port" --demo-login --quiet --rate 1000000 \
     --drain-s 2 "$@") >"$OUT/hub.log" 2>&1 &
  HUB_PID=$!
  URL=http://127.0.0.1:$port
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$OUT/hub.log" >&2
  echo "load: the hub did not start" >&2
  exit 1
}
run() { timeout --kill-after=10 600 "$BIN/hub-load" "$@" --json "$JSON"; }

echo "load: $(nproc) cores, open-file limit $NOFILE, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load: idle ($IDLE connections, heartbeat every 5 s)"
start_hub "$NOFILE" --heartbeat-ms 5000
run idle --url "$URL" --conns "$IDLE" --pid "$HUB_PID" --idle-secs 10
stop_hub
for subs in "$FAN1" "$FAN2"; do
  echo "load: fan-out 1 -> $subs"
  start_hub "$NOFILE"
  run fanout --url "$URL" --subs "$subs" --messages "$FANMSG"
  stop_hub
done
echo "load: reconnect storm ($STORM clients)"
start_hub "$NOFILE"
run storm --url "$URL" --clients "$STORM" --rate 100
stop_hub
for case in "0 load.slow" "10 load.slow" "10 ticker.slow"; do
  set -- $case
  echo "load: slow consumers ($1 % of $SLOW on $2)"
  start_hub "$NOFILE" --queue-bytes 262144
  run slow --url "$URL" --subs "$SLOW" --slow-pct "$1" --channel "$2" --secs "$SLOWSECS" \
    --size "$SLOWSIZE" --rate "$SLOWRATE" --pid "$HUB_PID"
  # The hub's own count of what the policies did, added to the scenario's result.
  python3 - "$JSON" "$URL" <<'PY' || true
import json, sys, urllib.request
m = urllib.request.urlopen(sys.argv[2] + "/metrics", timeout=5).read().decode()
get = lambda k: int(next(l.split()[1] for l in m.splitlines() if l.startswith(k + " ")))
lines = open(sys.argv[1]).read().splitlines()
last = json.loads(lines[-1])
last["backpressure_drops"] = get("wsmachine_hub_backpressure_drops_total")
last["backpressure_closes"] = get("wsmachine_hub_backpressure_closes_total")
lines[-1] = json.dumps(last)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
  stop_hub
done
echo "load: descriptor exhaustion ($EXH connections against a hub limited to $EXHLIMIT descriptors)"
start_hub "$EXHLIMIT"
run exhaust --url "$URL" --conns "$EXH" --pid "$HUB_PID"
stop_hub

args=("$JSON")
((quick)) && args+=(--check) || args+=(--docs "$REPO/docs")
python3 "$REPO/scripts/tools/load-report.py" "${args[@]}"
