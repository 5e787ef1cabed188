#!/usr/bin/env bash
# benches/scripts/bench-python.sh — the Python benchmarks (benches/python/bench.py): the wsmachine
# wheel against wsproto and websockets' sans-IO layer, the asyncio echo round trip against
# websockets and picows servers, permessage-deflate throughput and wire size against websockets
# (its table is printed), memory per idle connection (10,000 connections) against websockets,
# picows and aiohttp; and (benches/python/asyncio_bench.py) request-response with each
# library's client against its own server: wsmachine.asyncio, picows, websockets, aiohttp, on
# asyncio and uvloop. Part of `make bench`.
# Results: target/bench/py-{sansio,echo,deflate,memory,rr}.json.
#   BENCH_PY_SECONDS   time per sans-IO figure (default 0.3)
#   BENCH_PY_CONNS     connections of the memory test (default 10000)
#   BENCH_PY_RR_SECONDS / BENCH_PY_RR_ROUNDS   request-response: seconds counted per figure
#                      (default 3, after 0.5 s of warm-up) and rounds (default 3, best counts)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
mkdir -p target/bench
PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n 1)
PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q -r "$HERE/requirements-bench.txt" >&2
"$REPO/scripts/tools/build-wheel.sh" --install >/dev/null
# The memory test holds 10,000 sockets in the server and 10,000 in the client process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $(( ${BENCH_PY_CONNS:-10000} + 1000 )) ]]; then
  echo "bench-python: open-file limit $(ulimit -n) is too low for ${BENCH_PY_CONNS:-10000} connections" >&2
  exit 1
fi
B=benches/python/bench.py
echo "bench-python: sans-IO" >&2
timeout 900 "$PY" "$B" sansio --seconds "${BENCH_PY_SECONDS:-0.3}" --json target/bench/py-sansio.json
echo "bench-python: echo round trips" >&2
timeout 600 "$PY" "$B" echo --seconds 0.5 --json target/bench/py-echo.json
echo "bench-python: permessage-deflate against websockets" >&2
timeout 900 "$PY" "$B" deflate --seconds 1.0 --json target/bench/py-deflate.json
echo "bench-python: request-response, each library against itself (asyncio, uvloop)" >&2
timeout 1200 "$PY" benches/python/asyncio_bench.py run --seconds "${BENCH_PY_RR_SECONDS:-3}" \
  --rounds "${BENCH_PY_RR_ROUNDS:-3}" --json target/bench/py-rr.json
echo "bench-python: memory per idle connection" >&2
timeout 600 "$PY" "$B" memory --conns "${BENCH_PY_CONNS:-10000}" --json target/bench/py-memory.json
