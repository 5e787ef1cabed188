"""Fixtures for the interop tests: wsmachine's Rust examples against Python `websockets`.

* ``rust_server``: the Rust ``echo-server`` on a free 127.0.0.1 port (subprotocols ``chat`` and
  ``superchat``, ``--close-command``, ``--verbose``; permessage-deflate with the core's own
  codecs), with its per-connection log lines. ``rust_server_zlib``: the same with ``--zlib``;
  ``rust_server_plain``: with ``--no-deflate``; ``start_rust_server(*args)``: another one.
* ``py_server``: a Python ``websockets`` echo server on a free 127.0.0.1 port, in a thread,
  recording what each connection received and how it closed, and (with permessage-deflate)
  how many compressed messages it received and sent, counted on the frames' RSV1 bit.
  ``PyServer(extensions=[...])`` runs one with other permessage-deflate settings.
* ``run_client``: runs the Rust ``echo-client script`` with a list of commands and returns its
  output lines.
* ``counting_client_deflate(**params)``: a websockets client permessage-deflate factory whose
  extension counts compressed frames (``.stats["in"]``, ``.stats["out"]``).

Run with ``scripts/setup/python-venv.sh`` then ``.venv/bin/python -m pytest tests/interop``.
"""

import ast
import asyncio
import os
import queue
import re
import subprocess
import threading
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Opcode

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
MIB = 1 << 20
SIZES = [0, 125, 126, 65535, 65536, MIB]


def text_of_size(n, alphabet="aé€😀"):
    """A string whose UTF-8 encoding is exactly n bytes, cycling through 1- to 4-byte chars."""
    out, size, i = [], 0, 0
    while True:
        ch = alphabet[i % len(alphabet)]
        w = len(ch.encode())
        if size + w > n:
            break
        out.append(ch)
        size += w
        i += 1
    out.append("a" * (n - size))
    s = "".join(out)
    assert len(s.encode()) == n
    return s


def binary_of_size(n, seed=1):
    import random

    return random.Random(seed * 7919 + n).randbytes(n)


@pytest.fixture(scope="session")
def bins():
    """Builds the Rust examples once (release) and returns their paths."""
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "-p", "wsmachine-examples", "--bins"],
        cwd=REPO,
        check=True,
    )
    paths = {name: TARGET / "release" / name for name in ("echo-server", "echo-client")}
    for p in paths.values():
        assert p.exists(), p
    return paths


class CountingDeflate(PerMessageDeflate):
    """websockets' permessage-deflate extension, counting the compressed messages it decodes
    (data frames with RSV1) and encodes, in ``self.stats`` (shared with its factory)."""

    stats: dict

    def decode(self, frame, *, max_size=None):
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY) and frame.rsv1:
            self.stats["in"] += 1
        return super().decode(frame, max_size=max_size)

    def encode(self, frame):
        frame = super().encode(frame)
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY) and frame.rsv1:
            self.stats["out"] += 1
        return frame


def _counting(ext, stats):
    ext.__class__ = CountingDeflate
    ext.stats = stats
    return ext


class CountingClientDeflate(ClientPerMessageDeflateFactory):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.stats = {"in": 0, "out": 0}

    def process_response_params(self, params, accepted_extensions):
        return _counting(super().process_response_params(params, accepted_extensions), self.stats)


class CountingServerDeflate(ServerPerMessageDeflateFactory):
    """Each connection's extension gets its own counters (``ext.stats``)."""

    def process_request_params(self, params, accepted_extensions):
        response, ext = super().process_request_params(params, accepted_extensions)
        return response, _counting(ext, {"in": 0, "out": 0})


def counting_client_deflate(**params):
    return CountingClientDeflate(**params)


class RustServer:
    """A running echo-server and the lines it prints."""

    LINE = re.compile(
        r'^(?P<peer>\S+) subprotocol=(?P<sub>\S+) close=(?P<code>\d+) reason=(?P<reason>".*") '
        r"deflate=(?P<deflate>\S+) compressed_in=(?P<cin>\d+) compressed_out=(?P<cout>\d+) "
        r"failure=(?P<failure>.*)$"
    )

    def __init__(self, binary, *args):
        self.proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", "0", "--verbose", "--close-command",
             "--subprotocol", "chat", "--subprotocol", "superchat", "--max-seconds", "900",
             *args],
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        first = self.proc.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", first)
        assert m, "unexpected first line %r" % first
        self.port = int(m.group(1))
        self.url = "ws://127.0.0.1:%d" % self.port
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def connection_log(self, local_port, timeout=10):
        """The parsed log line of the connection from our local port (waits for it)."""
        deadline = time.monotonic() + timeout
        pending = []
        try:
            while True:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
                m = self.LINE.match(line)
                if m and m.group("peer") == "127.0.0.1:%d" % local_port:
                    d = m.groupdict()
                    d["code"] = int(d["code"])
                    d["cin"], d["cout"] = int(d["cin"]), int(d["cout"])
                    d["reason"] = ast.literal_eval(d["reason"])  # a Rust {:?} string
                    return d
                pending.append(line)
        except queue.Empty:
            raise AssertionError("no log line for port %d; saw %r" % (local_port, pending))
        finally:
            for line in pending:
                self.lines.put(line)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def rust_server(bins):
    server = RustServer(bins["echo-server"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rust_server_zlib(bins):
    server = RustServer(bins["echo-server"], "--zlib")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rust_server_plain(bins):
    server = RustServer(bins["echo-server"], "--no-deflate")
    yield server
    server.stop()


@pytest.fixture
def start_rust_server(bins):
    """start_rust_server(*args) -> a RustServer with extra options, stopped after the test."""
    started = []

    def start(*args):
        started.append(RustServer(bins["echo-server"], *args))
        return started[-1]

    yield start
    for server in started:
        server.stop()


class PyServer:
    """A websockets echo server on its own event loop thread.

    Echoes each message with the same fragmentation it arrived in. Special text messages:
    ``/close CODE REASON`` makes it close with that code and reason; ``/ping`` makes it send a
    ping with payload ``server-ping``, wait for the pong, then send the text ``pong-ok``.
    Paths starting with ``/forbidden`` are refused with 403.

    ``extensions``: permessage-deflate factories (``CountingServerDeflate``); by default one
    with websockets' default settings (what ``compression="deflate"`` uses), counting.
    """

    def __init__(self, extensions=None):
        if extensions is None:
            extensions = [CountingServerDeflate(server_max_window_bits=12,
                                                client_max_window_bits=12,
                                                compress_settings={"memLevel": 5})]
        self.extensions = extensions
        self.records = {}
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        self.stopping = asyncio.Event()
        def select_subprotocol(connection, offered):
            # Accept "chat" if offered; without a match, go on with no subprotocol
            # (websockets' own default would refuse the handshake).
            return "chat" if "chat" in offered else None

        def process_request(connection, request):
            if request.path.startswith("/forbidden"):
                return connection.respond(HTTPStatus.FORBIDDEN, "go away\n")
            return None

        async with serve(self._handler, "127.0.0.1", 0, select_subprotocol=select_subprotocol,
                         process_request=process_request, max_size=4 * MIB,
                         ping_interval=None, compression=None,
                         extensions=self.extensions) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.url = "ws://127.0.0.1:%d" % self.port
            self.ready.set()
            await self.stopping.wait()

    async def _handler(self, ws):
        deflate = [e for e in ws.protocol.extensions if isinstance(e, CountingDeflate)]
        rec = {"path": ws.request.path, "subprotocol": ws.subprotocol,
               "headers": ws.request.headers, "response_headers": ws.response.headers,
               "deflate": deflate[0].stats if deflate else None,
               "messages": [], "done": threading.Event()}
        self.records[ws.request.path] = rec
        try:
            while True:
                fragments = [f async for f in ws.recv_streaming()]
                text = isinstance(fragments[0], str)
                msg = ("" if text else b"").join(fragments)
                rec["messages"].append((msg, len(fragments)))
                if text and msg.startswith("/close "):
                    code, _, reason = msg[len("/close "):].partition(" ")
                    await ws.close(int(code), reason)
                    break
                if text and msg == "/ping":
                    pong = await ws.ping(b"server-ping")
                    await asyncio.wait_for(pong, 5)
                    await ws.send("pong-ok")
                    continue
                await ws.send(fragments if len(fragments) > 1 else msg)
        except ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            rcvd, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
            rec["close_rcvd"] = (rcvd.code, rcvd.reason) if rcvd else None
            rec["close_sent"] = (sent.code, sent.reason) if sent else None
            rec["done"].set()

    def record(self, path, timeout=10):
        """What the connection to `path` saw, once it is over."""
        deadline = time.monotonic() + timeout
        while path not in self.records and time.monotonic() < deadline:
            time.sleep(0.01)
        rec = self.records[path]
        assert rec["done"].wait(max(0, deadline - time.monotonic())), "connection still open"
        return rec

    def stop(self):
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)


@pytest.fixture(scope="session")
def py_server():
    server = PyServer()
    yield server
    server.stop()


@pytest.fixture
def run_client(bins):
    """run_client(url, commands, subprotocols=()) -> stdout lines of `echo-client script`
    (with ``check=False``: the CompletedProcess)."""

    def run(url, commands, subprotocols=(), wait_secs=10, check=True, options=()):
        args = [str(bins["echo-client"]), "script", "--url", url, "--wait-secs", str(wait_secs)]
        for p in subprotocols:
            args += ["--subprotocol", p]
        args += list(options)
        proc = subprocess.run(args, input="".join(c + "\n" for c in commands),
                              capture_output=True, text=True, timeout=60)
        if not check:
            return proc
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    return run
