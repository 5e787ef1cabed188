"""wsmachine's Rust echo-client (`script` mode) as the client, a Python `websockets` server."""

import uuid

import pytest

from conftest import SIZES, binary_of_size, text_of_size


def path():
    """A path unique to one test, to find its record on the server."""
    return "/t/" + uuid.uuid4().hex


def hexs(data):
    return (data.encode() if isinstance(data, str) else data).hex()


def parse(lines):
    """Output lines as (event, args...) tuples."""
    out = []
    for line in lines:
        ev, _, rest = line.partition(" ")
        if ev in ("text", "binary"):
            frames, _, payload = rest.partition(" ")
            data = bytes.fromhex(payload)
            out.append((ev, int(frames), data.decode() if ev == "text" else data))
        elif ev in ("ping", "pong"):
            out.append((ev, bytes.fromhex(rest)))
        elif ev == "close":
            code, _, reason = rest.partition(" ")
            out.append((ev, int(code), reason))
        elif ev == "closed":
            code, _, how = rest.partition(" ")
            out.append((ev, int(code), how))
        else:
            out.append((ev, rest))
    return out


# --- handshake -----------------------------------------------------------------------------


def test_handshake(py_server, run_client):
    p = path() + "?room=1&x=%20y"
    out = parse(run_client(py_server.url + p, ["text " + hexs("hi"), "recv"]))
    assert out == [("open", "-"), ("text", 1, "hi"), ("close", 1000, ""), ("closed", 1000, "clean")]
    rec = py_server.record(p)
    assert rec["path"] == p
    assert rec["headers"]["Host"] == "127.0.0.1:%d" % py_server.port
    assert rec["headers"]["Sec-WebSocket-Version"] == "13"
    # The client offers permessage-deflate (tests/interop/test_deflate.py has the details).
    assert rec["headers"]["Sec-WebSocket-Extensions"] == "permessage-deflate; client_max_window_bits"
    assert rec["close_rcvd"] == (1000, "")


def test_handshake_refused(py_server, run_client):
    proc = run_client(py_server.url + "/forbidden", [], check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "server refused the upgrade: 403 Forbidden" in proc.stderr


@pytest.mark.parametrize(
    "offered, chosen",
    [(["chat"], "chat"), (["nope", "chat"], "chat"), (["nope"], None), ([], None)],
)
def test_subprotocol(py_server, run_client, offered, chosen):
    p = path()
    out = parse(run_client(py_server.url + p, [], subprotocols=offered))
    assert out[0] == ("open", chosen or "-")
    assert py_server.record(p)["subprotocol"] == chosen
    if offered:
        assert py_server.record(p)["headers"]["Sec-WebSocket-Protocol"] == ", ".join(offered)


# --- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ascii", "multibyte", "binary"])
@pytest.mark.parametrize("size", SIZES)
def test_echo(py_server, run_client, kind, size):
    msg = {"ascii": lambda: "y" * size, "multibyte": lambda: text_of_size(size),
           "binary": lambda: binary_of_size(size, seed=5)}[kind]()
    cmd = "binary" if kind == "binary" else "text"
    p = path()
    out = parse(run_client(py_server.url + p, ["%s %s" % (cmd, hexs(msg)), "recv"]))
    assert out[1] == (cmd, 1, msg)
    assert out[-1] == ("closed", 1000, "clean")
    assert py_server.record(p)["messages"] == [(msg, 1)]


def test_fragmented_message(py_server, run_client):
    """Three frames, with a code point (é = c3 a9) split between the first two."""
    p = path()
    out = parse(run_client(py_server.url + p, ["fragments text 63c3,a96c,61", "recv",
                                               "fragments binary 00,,0102", "recv"]))
    # The server saw 3 frames per message...
    assert py_server.record(p)["messages"] == [("céla", 3), (b"\x00\x01\x02", 3)]
    # ... and echoes them as websockets sends an iterable: the 3 fragments, then an empty
    # final frame.
    assert out[1] == ("text", 4, "céla")
    assert out[2] == ("binary", 4, b"\x00\x01\x02")


# --- ping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125))])
def test_client_ping(py_server, run_client, payload):
    out = parse(run_client(py_server.url + path(), ["ping " + payload.hex(), "recv"]))
    assert out[1] == ("pong", payload)


def test_server_ping_is_answered(py_server, run_client):
    """The server pings; the client's core answers by itself; the server confirms."""
    out = parse(run_client(py_server.url + path(), ["text " + hexs("/ping"), "recv"]))
    assert out[1] == ("ping", b"server-ping")
    assert out[2] == ("text", 1, "pong-ok")


# --- close ---------------------------------------------------------------------------------


def test_close_by_client(py_server, run_client):
    p = path()
    out = parse(run_client(py_server.url + p, ["close 4000 client bye", "wait-close"]))
    assert out[1][:2] == ("close", 4000)  # the server's reply echoes the code
    assert out[-1] == ("closed", 4000, "clean")
    rec = py_server.record(p)
    assert rec["close_rcvd"] == (4000, "client bye")


def test_close_by_server(py_server, run_client):
    p = path()
    out = parse(run_client(py_server.url + p, ["text " + hexs("/close 4001 server bye"),
                                               "wait-close"]))
    assert out[1:] == [("close", 4001, "server bye"), ("closed", 4001, "clean")]
    rec = py_server.record(p)
    assert rec["close_sent"] == (4001, "server bye")
    assert rec["close_rcvd"] == (4001, "")  # wsmachine echoes the code
