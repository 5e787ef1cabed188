#!/usr/bin/env bash
# scripts/test/python.sh — everything for the Python wheel (python/, import name `wsmachine`):
#   1. the repo venv with the pinned dev packages (scripts/setup/python-venv.sh);
#   2. the abi3 manylinux2014 wheel, built into dist/ and installed into the venv
#      (scripts/tools/build-wheel.sh);
#   3. that wheel installed with plain pip into a fresh venv where no Rust toolchain is
#      reachable, and a sans-IO handshake and echo there (scripts/test/python-wheel-norust.sh);
#   4. pytest on python/tests (unit, property, wsproto interop, wsproto 1.3.2's own test-suite
#      run against wsmachine.wsproto, the asyncio examples, and wsmachine.asyncio:
#      test_asyncio_*.py, on asyncio's loop and uvloop, against websockets);
#   5. mypy --strict on the package source (python/wsmachine, wsmachine.asyncio included), the
#      tests and examples/python;
#   6. mypy.stubtest: the .pyi stubs and the package's annotations against the installed module.
# Exits non-zero when any step fails; pytest's summary line is printed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=$("$REPO/scripts/setup/python-venv.sh" | tail -n 1)
WHEEL=$("$REPO/scripts/tools/build-wheel.sh" --install | tail -n 1)
echo "test-python: installed $(basename "$WHEEL")"
status=0
"$REPO/scripts/test/python-wheel-norust.sh" "$WHEEL" || status=1
# Run from the repo root so that the source tree's python/wsmachine (which has no native
# module) does not shadow the installed package.
cd "$REPO"
"$PY" -m pytest -p no:cacheprovider python/tests || status=1
"$PY" -m mypy --strict --no-incremental python/tests examples/python || status=1
# The package's own source (a separate run: there `wsmachine` is python/wsmachine, with the
# native module's stub beside it).
(cd python && "$PY" -m mypy --strict --no-incremental wsmachine) || status=1
"$PY" -m mypy.stubtest wsmachine || status=1
if [[ $status -ne 0 ]]; then
  echo "test-python: FAILED"
else
  echo "test-python: all checks passed"
fi
exit $status
