#!/usr/bin/env bash
# scripts/test/c.sh — the C library's tests: builds libwsmachine.a and runs the C tests (tests/c)
# three ways, checks that the C examples build, and tests `scripts/tools/install-c-library.sh`.
#
#   scripts/test/c.sh [plain] [sanitize] [valgrind] [examples] [install]   (default: all)
#
#   plain     cc -std=c11 -Wall -Wextra -Wpedantic -Werror, run
#   sanitize  the same with -fsanitize=address,undefined (no recovery), run
#   valgrind  the plain binary under valgrind --error-exitcode=1 --leak-check=full
#             (installs valgrind with apt-get when missing and running as root)
#   examples  builds examples/c (scripts/tools/build-c-examples.sh); runs echo_client against
#             echo_server over loopback, with permessage-deflate (the default) and without
#             (also under valgrind when it is installed)
#   install   installs into a temporary prefix and builds a program with
#             `pkg-config --cflags --libs --static wsmachine`
#
# Run from anywhere; outputs go to target/c (git-ignored). Idempotent. Exits non-zero on
# any failure. The last line sums the test runs: "c-tests: N passed, M failed".
# Environment: CC (default cc), CARGO (default cargo), CARGO_TARGET_DIR; WSM_SKIP_BUILD=1
# uses the libwsmachine.a already built instead of running cargo.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
CC=${CC:-cc}
CARGO=${CARGO:-cargo}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
OUT=$TARGET/c
LIB=$TARGET/release/libwsmachine.a
STRICT=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
SYSLIBS=(-lpthread -ldl -lm)
SOURCES=(tests/c/main.c tests/c/support.c tests/c/test_api.c tests/c/test_handshake.c
         tests/c/test_session.c tests/c/test_timers.c tests/c/test_deflate.c)

STEPS=("$@")
[[ ${#STEPS[@]} -gt 0 ]] || STEPS=(plain sanitize valgrind examples install)
for s in "${STEPS[@]}"; do
  case $s in
    plain | sanitize | valgrind | examples | install) ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done

say() { printf 'test-c: %s\n' "$*"; }
die() { say "ERROR: $*"; exit 1; }

TOTAL_PASSED=0
TOTAL_FAILED=0
FAILED_STEPS=()

# Runs a test binary (with an optional wrapper command), keeps its output in a log, and
# adds its closing "N passed, M failed" line to the totals.
run_tests() {
  local name=$1; shift
  local log=$OUT/$name.log rc line p f
  say "running $name: $*"
  set +e
  "$@" >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^(  FAIL|FAIL)' "$log" || true
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1 || true)
  if [[ -z $line ]]; then
    tail -n 40 "$log"
    say "$name: no result line (exit $rc)"
    FAILED_STEPS+=("$name")
    TOTAL_FAILED=$((TOTAL_FAILED + 1))
    return 0
  fi
  p=${line%% passed*}
  f=${line#*, }; f=${f%% failed}
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  say "$name: $line (exit $rc)"
  if [[ $rc != 0 || $f != 0 ]]; then
    [[ $f != 0 ]] || tail -n 40 "$log"
    FAILED_STEPS+=("$name")
    # A sanitizer or valgrind error without a failed test still fails the run.
    [[ $f != 0 ]] || TOTAL_FAILED=$((TOTAL_FAILED + 1))
  fi
}

# Builds the examples, starts echo_server on a free loopback port and checks echoes with
# echo_client (small, 1 MiB and empty messages; four clients at once), then the same under
# valgrind when it is installed; then 1000 connections at once (scripts/test/many-conns.py).
# Every process is stopped by its PID.
examples_test() (
  set -euo pipefail
  local vg=() pids=() spid="" port="" url log i
  CC=$CC WSM_SKIP_BUILD=1 bash "$REPO/scripts/tools/build-c-examples.sh"
  stop() { [[ -z $spid ]] || { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }; }
  trap stop EXIT
  for mode in plain valgrind; do
    if [[ $mode == valgrind ]]; then
      command -v valgrind >/dev/null 2>&1 || { echo "examples-test: valgrind not installed, skipped"; break; }
      vg=(valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible)
    fi
    log=$OUT/echo_server.$mode.log
    "${vg[@]}" "$OUT/echo_server" --host 127.0.0.1 --port 0 --max-seconds 300 --subprotocol echo >"$log" 2>&1 &
    spid=$!
    port=""
    for ((i = 0; i < 300; i++)); do
      port=$(sed -n 's/^echo_server: listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
      [[ -n $port ]] && break
      sleep 0.1
    done
    [[ -n $port ]] || { cat "$log"; echo "examples-test: echo_server did not start"; return 1; }
    url=ws://127.0.0.1:$port/smoke
    # (This function runs under `if`, where errexit is off: every step checks itself.)
    # permessage-deflate is negotiated by default: compressed messages both ways; then the
    # same without it (--no-deflate), against the same server.
    "${vg[@]}" "$OUT/echo_client" send --url "$url" --count 20 --size 1000 --subprotocol echo || return 1
    "${vg[@]}" "$OUT/echo_client" send --url "$url" --count 3 --size 0 || return 1
    "${vg[@]}" "$OUT/echo_client" send --url "$url" --count 4 --size 1048576 || return 1
    "${vg[@]}" "$OUT/echo_client" send --url "$url" --count 4 --size 300000 --no-deflate || return 1
    pids=()
    for i in 1 2 3 4; do
      "${vg[@]}" "$OUT/echo_client" send --url "$url" --count 30 --size $((i * 7000)) &
      pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || return 1; done
    kill "$spid"
    wait "$spid" || { cat "$log"; echo "examples-test: echo_server exited with an error ($mode)"; return 1; }
    spid=""
    grep -q "subprotocol echo" "$log" || { echo "examples-test: subprotocol not negotiated"; return 1; }
    grep -q "subprotocol echo, permessage-deflate" "$log" || { echo "examples-test: permessage-deflate not negotiated"; return 1; }
    [[ $(grep -c "open: /smoke, permessage-deflate" "$log") == 6 ]] || { echo "examples-test: permessage-deflate not on every default connection"; return 1; }
    grep -q "open: /smoke\$" "$log" || { echo "examples-test: --no-deflate still negotiated it"; return 1; }
    echo "examples-test: $mode: echo_client <-> echo_server OK ($(grep -c 'closed: status 1000' "$log") clean closes)"
  done
  # Thousands of connections from one slot table: 1000 held and echoed at once, the next one
  # waits for a free slot (--max-conns), with the server's memory per connection.
  local n=1000
  ulimit -n 4096 2>/dev/null || { ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; }
  (( $(ulimit -n) >= 2 * n + 64 )) || n=$(( ($(ulimit -n) - 64) / 2 ))
  log=$OUT/echo_server.many.log
  "$OUT/echo_server" --host 127.0.0.1 --port 0 --max-seconds 120 --max-conns "$n" --quiet >"$log" 2>&1 &
  spid=$!
  port=""
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n 's/^echo_server: listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { cat "$log"; echo "examples-test: echo_server --max-conns did not start"; return 1; }
  timeout 120 python3 "$REPO/scripts/test/many-conns.py" "$port" "$n" --pid "$spid" || return 1
  kill "$spid"
  wait "$spid" || { cat "$log"; echo "examples-test: echo_server --max-conns $n exited with an error"; return 1; }
  spid=""
)


# Installs into a temporary prefix and builds a three-line program with
# `pkg-config --cflags --libs --static wsmachine` (pkg-config is installed with apt-get when
# missing and running as root; otherwise the .pc file is read directly, and the log says so).
install_test() (
  set -euo pipefail
  local prefix prog flags
  prefix=$(mktemp -d "${TMPDIR:-/tmp}/wsm-install.XXXXXX")
  trap 'rm -rf "$prefix"' EXIT
  WSM_SKIP_BUILD=1 bash "$REPO/scripts/tools/install-c-library.sh" "$prefix"
  for f in lib/libwsmachine.a include/wsmachine.h lib/pkgconfig/wsmachine.pc; do
    [[ -f $prefix/$f ]] || { echo "install-test: $f was not installed"; return 1; }
  done
  prog=$prefix/hello.c
  printf '%s\n' '#include <stdio.h>' '#include <wsmachine.h>' \
    'int main(void) { wsm_config c; return wsm_config_default(&c) == WSM_OK && printf("wsmachine %s: handle %zu bytes\n", wsm_version(), wsm_conn_size()) > 0 ? 0 : 1; }' \
    >"$prog"
  if ! command -v pkg-config >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config; } >/dev/null 2>&1 || true
  fi
  if command -v pkg-config >/dev/null 2>&1; then
    flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs --static wsmachine)
    echo "install-test: pkg-config --cflags --libs --static wsmachine: $flags"
  else
    # No pkg-config: expand the .pc file's variables and fields by hand.
    flags=$(pc_flags "$prefix/lib/pkgconfig/wsmachine.pc")
    echo "install-test: pkg-config is not available; flags read from wsmachine.pc: $flags"
  fi
  # shellcheck disable=SC2086
  "$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror "$prog" $flags -o "$prefix/hello"
  echo "install-test: $(LD_LIBRARY_PATH=$prefix/lib "$prefix/hello")"
  # The static library alone (even with the .so beside it).
  "$CC" -std=c11 "$prog" -I"$prefix/include" -L"$prefix/lib" -Wl,-Bstatic -lwsmachine \
    -Wl,-Bdynamic -lpthread -ldl -lm -o "$prefix/hello-static"
  if command -v ldd >/dev/null 2>&1 && ldd "$prefix/hello-static" | grep -q libwsmachine; then
    echo "install-test: hello-static is linked to the shared library"
    return 1
  fi
  echo "install-test: static: $("$prefix/hello-static")"
)

# Cflags, Libs and Libs.private of a .pc file with ${variables} expanded (no pkg-config).
pc_flags() {
  local line name value out="" k
  declare -A vars=()
  while IFS= read -r line; do
    if [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      name=${BASH_REMATCH[1]}
      value=${BASH_REMATCH[2]}
      for k in "${!vars[@]}"; do value=${value//\$\{$k\}/${vars[$k]}}; done
      vars[$name]=$value
    elif [[ $line =~ ^(Cflags|Libs|Libs\.private):[[:space:]]*(.*)$ ]]; then
      value=${BASH_REMATCH[2]}
      for k in "${!vars[@]}"; do value=${value//\$\{$k\}/${vars[$k]}}; done
      out+=" $value"
    fi
  done <"$1"
  echo "${out# }"
}

if [[ ${WSM_SKIP_BUILD:-0} == 1 ]]; then
  say "WSM_SKIP_BUILD=1: using the existing $LIB"
else
  say "building libwsmachine.a (cargo build -p wsmachine-ffi --release)"
  "$CARGO" build --quiet -p wsmachine-ffi --release
fi
[[ -f $LIB ]] || die "$LIB was not built"
mkdir -p "$OUT"

for step in "${STEPS[@]}"; do
  case $step in
  plain)
    "$CC" "${STRICT[@]}" -O1 -g -Iinclude "${SOURCES[@]}" "$LIB" "${SYSLIBS[@]}" \
      -o "$OUT/wsm_tests"
    run_tests plain "$OUT/wsm_tests"
    ;;
  sanitize)
    "$CC" "${STRICT[@]}" -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
      -fno-sanitize-recover=all -Iinclude "${SOURCES[@]}" "$LIB" "${SYSLIBS[@]}" \
      -o "$OUT/wsm_tests_asan"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      run_tests sanitize "$OUT/wsm_tests_asan"
    ;;
  valgrind)
    if ! command -v valgrind >/dev/null 2>&1; then
      if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing valgrind (apt-get)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } \
          >"$OUT/apt-valgrind.log" 2>&1 || { tail -n 20 "$OUT/apt-valgrind.log"; die "could not install valgrind"; }
      else
        die "valgrind is not installed (install it: apt-get install valgrind, as root)"
      fi
    fi
    "$CC" "${STRICT[@]}" -O1 -g -Iinclude "${SOURCES[@]}" "$LIB" "${SYSLIBS[@]}" \
      -o "$OUT/wsm_tests"
    run_tests valgrind valgrind --quiet --error-exitcode=1 --leak-check=full \
      --errors-for-leak-kinds=definite,indirect,possible "$OUT/wsm_tests"
    ;;
  examples)
    say "examples: build, then echo_client send <-> echo_server over loopback"
    if examples_test >"$OUT/examples.log" 2>&1; then
      sed -n 's/^examples-test: /examples: /p' "$OUT/examples.log"
      TOTAL_PASSED=$((TOTAL_PASSED + 1))
    else
      cat "$OUT/examples.log"
      FAILED_STEPS+=(examples)
      TOTAL_FAILED=$((TOTAL_FAILED + 1))
    fi
    ;;
  install)
    say "install: scripts/tools/install-c-library.sh into a temporary prefix, then pkg-config"
    if install_test >"$OUT/install.log" 2>&1; then
      sed -n 's/^install-test: /install: /p' "$OUT/install.log"
      TOTAL_PASSED=$((TOTAL_PASSED + 1))
    else
      cat "$OUT/install.log"
      FAILED_STEPS+=(install)
      TOTAL_FAILED=$((TOTAL_FAILED + 1))
    fi
    ;;
  esac
done

if [[ ${#FAILED_STEPS[@]} -gt 0 ]]; then
  say "FAILED: ${FAILED_STEPS[*]} (logs in $OUT)"
  echo "c-tests: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
  exit 1
fi
say "all steps passed: ${STEPS[*]}"
echo "c-tests: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
