#!/usr/bin/env bash
# scripts/setup/python-venv.sh — create or update <repo>/.venv (git-ignored) with the pinned
# packages of scripts/setup/requirements-interop.txt and python/requirements-dev.txt
# (the Python wheel's test tools). Idempotent: when the venv
# already matches the requirements file (a stamp records its hash), it does
# nothing. Prints the venv's python path on its last line.
#   PYTHON   interpreter to build the venv from (default python3)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=$REPO/.venv
REQS=$HERE/requirements-interop.txt
DEV_REQS=$REPO/python/requirements-dev.txt
WANT="$(cat "$REQS" "$DEV_REQS" | sha256sum | cut -c1-16) $(${PYTHON:-python3} -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

if [[ -x $VENV/bin/python && -f $VENV/.stamp && $(<"$VENV/.stamp") == "$WANT" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
rm -f "$VENV/.stamp"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q -r "$REQS" -r "$DEV_REQS" >&2
echo "$WANT" >"$VENV/.stamp"
echo "$VENV/bin/python"
