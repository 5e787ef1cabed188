"""permessage-deflate (RFC 7692) between wsmachine's Rust examples and Python `websockets`,
both roles, with context takeover on and off and small windows.

Each test checks that compression was negotiated (the Sec-WebSocket-Extensions headers on
both sides) and used: websockets' extension counts the data frames with RSV1 it decodes and
encodes (``CountingDeflate`` in conftest.py), and the Rust programs count the compressed
messages they inflated and sent (the echo server's log line, the client's ``stats`` line).
"""

import asyncio
import struct
import uuid
import zlib

import pytest
from websockets.asyncio.client import connect as aconnect

from conftest import (
    MIB,
    CountingServerDeflate,
    PyServer,
    binary_of_size,
    counting_client_deflate,
    text_of_size,
)
from test_rust_server import RawClient


def compressible_binary(n, seed=1):
    """Bytes that compress well but not trivially: random words from a small vocabulary."""
    import random

    rnd = random.Random(seed)
    words = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(3, 12))) for _ in range(64)]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words)
    return bytes(out[:n])


# What the websockets client sends: (message, compressible). websockets compresses every data
# message, whatever its size.
MESSAGES = [
    "",
    "short",
    text_of_size(20000),
    "lorem ipsum dolor sit amet " * 4000,
    compressible_binary(100 * 1024),
    binary_of_size(100 * 1024, seed=9),  # random: compressed, but does not shrink
    ["frag", "mented ", "tëxt " * 1000, ""],  # one message in 4 frames
    compressible_binary(MIB, seed=2),  # echoed in many fragments
]


def expected(m):
    return "".join(m) if isinstance(m, list) and isinstance(m[0], str) else m


async def _echo(url, factory, messages):
    async with aconnect(url, max_size=4 * MIB, max_queue=None, compression=None,
                        extensions=[factory] if factory else None, open_timeout=10) as ws:
        out = []
        for m in messages:
            await ws.send(m)
            out.append(await ws.recv())
        return out, ws.response.headers.get("Sec-WebSocket-Extensions"), ws.local_address[1]


def echo_with(server, factory, messages=MESSAGES):
    return asyncio.run(asyncio.wait_for(_echo(server.url, factory, messages), 60))


# --- our server <- websockets client ------------------------------------------------------

# (id, websockets client offer, echo-server options, expected response)
SERVER_CASES = [
    ("default", {}, (), "permessage-deflate"),
    ("no-context-takeover-both",
     dict(server_no_context_takeover=True, client_no_context_takeover=True), (),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    # 8-bit server window: only the core's own compressor can do that (zlib cannot).
    ("server-window-8", dict(server_max_window_bits=8), (),
     "permessage-deflate; server_max_window_bits=8"),
    ("small-windows", dict(server_max_window_bits=10, client_max_window_bits=9), (),
     "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"),
    ("small-windows-no-takeover",
     dict(server_max_window_bits=9, client_max_window_bits=9,
          server_no_context_takeover=True, client_no_context_takeover=True), (),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=9; client_max_window_bits=9"),
    # The server's own limits applied to websockets' default offer.
    ("server-imposes", {}, ("--window-bits", "9", "--no-context-takeover",
                            "--peer-no-context-takeover"),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=9; client_max_window_bits=9"),
    ("server-imposes-8", {}, ("--window-bits", "8"),
     "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"),
    ("zlib-default", {}, ("--zlib",), "permessage-deflate"),
    ("zlib-small-no-takeover",
     dict(server_max_window_bits=9, client_max_window_bits=9,
          server_no_context_takeover=True, client_no_context_takeover=True), ("--zlib",),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=9; client_max_window_bits=9"),
]


@pytest.mark.parametrize("offer, options, response",
                         [c[1:] for c in SERVER_CASES], ids=[c[0] for c in SERVER_CASES])
def test_server_compresses(start_rust_server, offer, options, response):
    server = start_rust_server(*options)
    factory = counting_client_deflate(**offer)
    got, header, port = echo_with(server, factory)
    assert got == [expected(m) for m in MESSAGES]
    assert header == response
    n = len(MESSAGES)
    # websockets compressed every message, and the server echoed every one compressed.
    assert factory.stats == {"in": n, "out": n}
    log = server.connection_log(port)
    assert (log["deflate"], log["cin"], log["cout"], log["failure"]) == (
        response.replace("; ", ";"), n, n, "None")


def test_zlib_server_declines_8_bit_window(rust_server_zlib):
    """zlib cannot compress with a 256-byte window: the zlib backend declines such an offer
    (and the connection goes on uncompressed) rather than accept what it cannot honour."""
    factory = counting_client_deflate(server_max_window_bits=8)
    got, header, port = echo_with(rust_server_zlib, factory, ["abc" * 100])
    assert got == ["abc" * 100]
    assert header is None
    assert factory.stats == {"in": 0, "out": 0}
    assert rust_server_zlib.connection_log(port)["deflate"] == "-"


def test_server_context_takeover_shrinks_repeats(rust_server):
    """With context takeover, a message repeated is sent as a back-reference into the
    previous one: the second echo is far smaller on the wire than the first. Checked on the
    raw frames, inflated with Python's zlib as an independent decoder."""
    c = RawClient(rust_server.port,
                  b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    assert b"\r\nsec-websocket-extensions: permessage-deflate\r\n" in c.head.lower() + b"\r\n"
    comp = zlib.compressobj(wbits=-15)
    inflate = zlib.decompressobj(wbits=-15)
    msg = compressible_binary(4000, seed=7)
    sizes = []
    for _ in range(2):
        data = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        c.sock.sendall(c.frame(0x2, data[:-4], rsv1=True))
        payload = b""
        while True:
            fin, rsv, op, part = c.recv_frame(rsv=True)
            # RSV1 on the first frame of the message only.
            assert rsv == (4 if not payload and op == 0x2 else 0)
            payload += part
            if fin:
                break
        sizes.append(len(payload))
        assert inflate.decompress(payload + b"\x00\x00\xff\xff") == msg
    assert sizes[1] < sizes[0] // 4, sizes


def test_server_corrupt_data_fails_with_1007(rust_server):
    c = RawClient(rust_server.port,
                  b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    c.sock.sendall(c.frame(0x2, b"\xff\xff\xff\xff garbage", rsv1=True))
    fin, op, payload = c.recv_frame()
    assert (op, struct.unpack("!H", payload[:2])[0]) == (0x8, 1007)
    assert c.read_eof()


def test_server_rsv1_without_deflate_fails_with_1002(rust_server):
    """No extension offered: RSV1 is not allowed."""
    c = RawClient(rust_server.port)
    c.sock.sendall(c.frame(0x2, b"\x02\x00", rsv1=True))
    fin, op, payload = c.recv_frame()
    assert (op, struct.unpack("!H", payload[:2])[0]) == (0x8, 1002)
    assert c.read_eof()


# --- websockets server <- our client ------------------------------------------------------

_servers = {}


@pytest.fixture(scope="module")
def py_servers():
    """PyServers with other permessage-deflate settings, started on first use."""

    def get(name, **params):
        if name not in _servers:
            _servers[name] = PyServer(extensions=[CountingServerDeflate(**params)])
        return _servers[name]

    yield get
    for s in _servers.values():
        s.stop()
    _servers.clear()


def hexs(data):
    return (data.encode() if isinstance(data, str) else data).hex()


# What our client sends in script mode: (command, echo, compressed by us). Messages below the
# client's 32-byte minimum go uncompressed; websockets compresses all its echoes.
CLIENT_SCRIPT = [
    ("text " + hexs("hi"), "hi", False),
    ("text " + hexs(text_of_size(20000)), text_of_size(20000), True),
    ("binary " + hexs(compressible_binary(100 * 1024)), compressible_binary(100 * 1024), True),
    ("binary " + hexs(binary_of_size(70000, seed=4)), binary_of_size(70000, seed=4), True),
    ("text " + hexs("lorem ipsum " * 3000), "lorem ipsum " * 3000, True),
    ("fragments text " + ",".join(hexs(p) for p in ["frag", "mented ", "tëxt " * 100]),
     "fragmented " + "tëxt " * 100, True),
]

# (id, server name and settings, client options, expected response)
CLIENT_CASES = [
    # websockets' own defaults (compression="deflate"): 12-bit windows both ways.
    ("websockets-defaults", None, (),
     "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
    ("full-windows", ("full", {}), (), "permessage-deflate"),
    # The server asks for an 8-bit client window: the core's compressor can do it.
    ("client-window-8", ("cw8", dict(client_max_window_bits=8)), (),
     "permessage-deflate; client_max_window_bits=8"),
    ("server-no-takeover",
     ("nct", dict(server_no_context_takeover=True, client_no_context_takeover=True)), (),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ("client-asks-no-takeover-small", ("full", {}),
     ("--no-context-takeover", "--peer-no-context-takeover", "--window-bits", "9"),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=9; client_max_window_bits=9"),
    ("zlib", None, ("--zlib",),
     "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
    ("zlib-no-takeover", ("nct", dict(server_no_context_takeover=True,
                                      client_no_context_takeover=True)), ("--zlib",),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
]


def parse_stats(line):
    ev, *fields = line.split(" ")
    assert ev == "stats"
    d = dict(f.split("=", 1) for f in fields)
    return d["deflate"], int(d["compressed_in"]), int(d["compressed_out"])


@pytest.mark.parametrize("server, options, response",
                         [c[1:] for c in CLIENT_CASES], ids=[c[0] for c in CLIENT_CASES])
def test_client_compresses(py_server, py_servers, run_client, server, options, response):
    srv = py_server if server is None else py_servers(server[0], **server[1])
    path = "/d/" + uuid.uuid4().hex
    commands = []
    for cmd, _, _ in CLIENT_SCRIPT:
        commands += [cmd, "recv"]
    commands.append("stats")
    out = run_client(srv.url + path, commands, options=options)
    assert out[0] == "open -"
    got = []
    for line in out[1:1 + len(CLIENT_SCRIPT)]:
        kind, _, rest = line.partition(" ")
        _, _, payload = rest.partition(" ")
        data = bytes.fromhex(payload)
        got.append(data.decode() if kind == "text" else data)
    assert got == [echo for _, echo, _ in CLIENT_SCRIPT]
    deflate, cin, cout = parse_stats(out[1 + len(CLIENT_SCRIPT)])
    assert deflate == response.replace("; ", ";")
    ours = sum(1 for _, _, compressed in CLIENT_SCRIPT if compressed)
    assert (cin, cout) == (len(CLIENT_SCRIPT), ours)
    rec = srv.record(path)
    assert rec["response_headers"]["Sec-WebSocket-Extensions"] == response
    # The server decoded exactly our compressed messages, and compressed every echo.
    assert rec["deflate"] == {"in": ours, "out": len(CLIENT_SCRIPT)}
    assert rec["close_rcvd"] == (1000, "")


def test_client_without_deflate(py_server, run_client):
    path = "/d/" + uuid.uuid4().hex
    out = run_client(py_server.url + path, ["text " + hexs("x" * 100), "recv", "stats"],
                     options=["--no-deflate"])
    assert parse_stats(out[2]) == ("-", 0, 0)
    rec = py_server.record(path)
    assert "Sec-WebSocket-Extensions" not in rec["headers"]
    assert rec["deflate"] is None


def test_zlib_client_refuses_8_bit_window(py_servers, run_client):
    """A server that demands an 8-bit client window gets a failed handshake from the zlib
    backend (which cannot compress with it), as RFC 7692 §5 says a client must."""
    srv = py_servers("cw8", client_max_window_bits=8)
    proc = run_client(srv.url + "/d/zlib8", [], options=["--zlib"], check=False)
    assert proc.returncode == 1
    assert "handshake failed: invalid permessage-deflate response" in proc.stderr, proc.stderr
