#!/usr/bin/env bash
# scripts/test/python-wheel-norust.sh WHEEL — the wheel installs and works where no Rust toolchain
# is reachable: a fresh venv in a temporary directory, an environment with nothing of the
# repo's (PATH without cargo/rustc, CARGO_HOME and RUSTUP_HOME pointing nowhere, HOME in the
# temporary directory), `pip install --no-index --only-binary :all:` of the wheel file (pip
# fails rather than build anything from source), then an import and a sans-IO handshake and
# echo between a client and a server run from outside the repo. Part of `make python`.
set -euo pipefail
WHEEL=$(realpath "$1")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The interpreter the repo venv was made from (not the venv: a fresh one is made from it).
BASE_PY=$("$REPO/.venv/bin/python" -c 'import sys; print(sys._base_executable)')
TMP=$(mktemp -d /tmp/wsmachine-norust.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
"$BASE_PY" -m venv "$TMP/venv"
run() {
  env -i PATH="$TMP/venv/bin:/usr/bin:/bin" HOME="$TMP" CARGO_HOME="$TMP/no-cargo" \
    RUSTUP_HOME="$TMP/no-rustup" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONNOUSERSITE=1 "$@"
}
if run bash -c 'command -v cargo || command -v rustc || command -v rustup' >&2; then
  echo "wheel-norust: a Rust toolchain is reachable in the test environment" >&2
  exit 1
fi
(cd "$TMP" && run python -m pip install -q --no-index --only-binary :all: "$WHEEL")
(cd "$TMP" && run python - "$TMP/venv") <<'PY'
import sys
from pathlib import Path

import wsmachine
from wsmachine.wsproto import ConnectionType, WSConnection
from wsmachine.wsproto.connection import ConnectionState
from wsmachine.wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Request,
    TextMessage,
)

venv = Path(sys.argv[1]).resolve()
assert Path(wsmachine.__file__).resolve().is_relative_to(venv), wsmachine.__file__

client = WSConnection(ConnectionType.CLIENT)
server = WSConnection(ConnectionType.SERVER)
server.receive_data(client.send(Request(host="example.com", target="/chat")))
request = next(server.events())
assert isinstance(request, Request) and request.target == "/chat", request
client.receive_data(server.send(AcceptConnection()))
assert isinstance(next(client.events()), AcceptConnection)
assert client.state is ConnectionState.OPEN and server.state is ConnectionState.OPEN

server.receive_data(client.send(TextMessage(data="héllo")))
message = next(server.events())
assert isinstance(message, TextMessage) and message.data == "héllo", message
client.receive_data(server.send(BytesMessage(data=b"\x00\xff" * 100)))
echoed = next(client.events())
assert isinstance(echoed, BytesMessage) and echoed.data == b"\x00\xff" * 100, echoed

server.receive_data(client.send(CloseConnection(code=1000, reason="bye")))
close = next(server.events())
assert isinstance(close, CloseConnection) and close.code == 1000, close
client.receive_data(server.send(close.response()))
assert isinstance(next(client.events()), CloseConnection)
assert client.state is ConnectionState.CLOSED and server.state is ConnectionState.CLOSED
print(f"wheel-norust: wsmachine {wsmachine.__version__} from {Path(wsmachine.__file__).parent}:"
      " handshake, echo and close OK")
PY
