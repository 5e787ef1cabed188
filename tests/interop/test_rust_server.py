"""Python `websockets` (and a raw socket) as the client, wsmachine's Rust echo-server as the server."""

import asyncio
import base64
import hashlib
import os
import socket
import struct
import threading

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.asyncio.client import connect as aconnect
from websockets.sync.client import connect

from conftest import MIB, SIZES, binary_of_size, text_of_size


def client(rust_server, path="/", **kw):
    kw.setdefault("max_size", 4 * MIB)
    return connect(rust_server.url + path, open_timeout=10, close_timeout=10, **kw)


def echo_all(rust_server, messages, streaming=False):
    """Sends each message and returns what came back (with ``streaming``: the fragments).

    Uses the asyncio client, which keeps reading while it sends. The sync client cannot
    read while one ``send`` is in progress, and the echo server streams: it echoes a large
    message while still receiving it, so a client must be able to read meanwhile.
    """

    async def main():
        async with aconnect(rust_server.url, max_size=4 * MIB, max_queue=None) as ws:
            out = []
            for m in messages:
                await ws.send(m)
                if streaming:
                    out.append([f async for f in ws.recv_streaming()])
                else:
                    out.append(await ws.recv())
            return out

    return asyncio.run(asyncio.wait_for(main(), 30))


def local_port(ws):
    return ws.local_address[1]


# --- handshake -----------------------------------------------------------------------------


def test_handshake(rust_server):
    with client(rust_server, "/some/path?q=1") as ws:
        r = ws.response
        assert r.status_code == 101
        assert r.headers["Upgrade"].lower() == "websocket"
        assert r.headers["Connection"].lower() == "upgrade"
        # websockets offers permessage-deflate by default (with client_max_window_bits, no
        # limits); the echo server accepts it with full windows (tests/interop/test_deflate.py).
        assert r.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
        assert ws.subprotocol is None
        ws.send("hi")
        assert ws.recv() == "hi"
        port = local_port(ws)
    log = rust_server.connection_log(port)
    assert (log["code"], log["failure"]) == (1000, "None")
    assert (log["deflate"], log["cin"], log["cout"]) == ("permessage-deflate", 1, 1)


def test_handshake_without_deflate(rust_server_plain):
    """With --no-deflate the server ignores the offer."""
    with client(rust_server_plain) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("hi" * 100)
        assert ws.recv() == "hi" * 100
        port = local_port(ws)
    log = rust_server_plain.connection_log(port)
    assert (log["deflate"], log["cin"], log["cout"]) == ("-", 0, 0)


def raw_http(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_handshake_rejects_plain_http(rust_server):
    resp = raw_http(rust_server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 400 ")


def test_handshake_rejects_wrong_version(rust_server):
    resp = raw_http(
        rust_server.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    assert resp.startswith(b"HTTP/1.1 426 ")
    assert b"\r\nsec-websocket-version: 13\r\n" in resp.lower()


# --- subprotocols --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offered, chosen",
    [
        (["chat"], "chat"),
        (["nope", "superchat", "chat"], "superchat"),  # the client's order of preference
        (["nope"], None),
        (None, None),
    ],
)
def test_subprotocol(rust_server, offered, chosen):
    with client(rust_server, subprotocols=offered) as ws:
        assert ws.subprotocol == chosen
        ws.send("x")
        assert ws.recv() == "x"
        port = local_port(ws)
    assert rust_server.connection_log(port)["sub"] == (chosen or "-")


# --- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_echo_text_ascii(rust_server, size):
    msg = "x" * size
    assert echo_all(rust_server, [msg]) == [msg]


@pytest.mark.parametrize("size", SIZES)
def test_echo_text_multibyte(rust_server, size):
    msg = text_of_size(size)
    assert echo_all(rust_server, [msg]) == [msg]


@pytest.mark.parametrize("size", SIZES)
def test_echo_binary(rust_server, size):
    msg = binary_of_size(size)
    assert echo_all(rust_server, [msg]) == [msg]


def test_echo_is_streamed(rust_server):
    """A 1 MiB message comes back in several fragments: the server never holds it whole."""
    msg = binary_of_size(MIB, seed=3)
    [fragments] = echo_all(rust_server, [msg], streaming=True)
    assert b"".join(fragments) == msg
    assert len(fragments) >= MIB // (64 * 1024)


def test_fragmented_messages(rust_server):
    # websockets sends an iterable as one fragmented message, one frame per item.
    got = echo_all(rust_server, [["frag", "mented ", "tëxt", ""], [b"\x00\x01", b"", b"\x02" * 70000]])
    assert got == ["fragmented tëxt", b"\x00\x01" + b"\x02" * 70000]


def test_many_messages_and_concurrent_clients(rust_server):
    errors = []

    def worker(i):
        try:
            with client(rust_server) as ws:
                for j in range(50):
                    msg = binary_of_size(1000 + j, seed=i)
                    ws.send(msg)
                    assert ws.recv() == msg
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


# --- ping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"ping!", bytes(range(125))])
def test_ping(rust_server, payload):
    with client(rust_server) as ws:
        pong = ws.ping(payload)
        assert pong.wait(5), "no pong"
        ws.send("after ping")
        assert ws.recv() == "after ping"


# --- close ---------------------------------------------------------------------------------


def test_close_by_client(rust_server):
    with client(rust_server) as ws:
        ws.send("hello")
        assert ws.recv() == "hello"
        port = local_port(ws)
        ws.close(4001, "client says bye")
        rcvd = ws.protocol.close_rcvd
    assert (rcvd.code, rcvd.reason) == (4001, "")  # wsmachine echoes the code
    log = rust_server.connection_log(port)
    assert (log["code"], log["reason"], log["failure"]) == (4001, "client says bye", "None")


def test_close_by_server(rust_server):
    with client(rust_server) as ws:
        port = local_port(ws)
        ws.send("/close 4002 server says bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    rcvd, sent = closed.value.rcvd, closed.value.sent
    assert (rcvd.code, rcvd.reason) == (4002, "server says bye")
    assert sent.code == 4002  # websockets echoes the code (and the reason)
    log = rust_server.connection_log(port)
    assert (log["code"], log["failure"]) == (4002, "None")


# --- frame level, over a raw socket ---------------------------------------------------------


class RawClient:
    """A minimal masked-frame client, to send exactly the frames a test needs."""

    def __init__(self, port, extra_headers=b""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" + extra_headers
            + b"\r\n"
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        assert head.startswith(b"HTTP/1.1 101 ")
        self.head = head
        assert b"sec-websocket-accept: " + accept.lower() in head.lower()

    def frame(self, opcode, payload, fin=True, rsv1=False):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + masked

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv_frame(self, rsv=False):
        """(fin, opcode, payload) of the next frame from the server (which never masks);
        with ``rsv``: (fin, rsv bits, opcode, payload)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "server frames must not be masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        if rsv:
            return bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F, payload
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def read_eof(self):
        self.sock.settimeout(5)
        return self.sock.recv(1) == b""


def test_streamed_echo_keeps_fragments_and_interleaved_pong(rust_server):
    """A code point split across fragments, with a ping between them: the echo of fragment 1
    goes out before the pong, the pong before the echo of fragment 2."""
    c = RawClient(rust_server.port)
    euro = "€".encode()  # 3 bytes, split 1 + 2
    c.sock.sendall(
        c.frame(0x1, b"price: " + euro[:1], fin=False)
        + c.frame(0x9, b"between")
        + c.frame(0x0, euro[1:] + b"!", fin=True)
    )
    assert c.recv_frame() == (False, 0x1, b"price: " + euro[:1])
    assert c.recv_frame() == (True, 0xA, b"between")
    assert c.recv_frame() == (True, 0x0, euro[1:] + b"!")
    c.sock.sendall(c.frame(0x8, struct.pack("!H", 1000)))
    assert c.recv_frame() == (True, 0x8, struct.pack("!H", 1000))
    assert c.read_eof()


def test_invalid_utf8_fails_with_1007(rust_server):
    c = RawClient(rust_server.port)
    c.sock.sendall(c.frame(0x1, b"ok \xc3\x28 not ok"))
    fin, op, payload = c.recv_frame()
    assert (op, struct.unpack("!H", payload[:2])[0]) == (0x8, 1007)
    assert c.read_eof()


def test_unmasked_frame_fails_with_1002(rust_server):
    c = RawClient(rust_server.port)
    c.sock.sendall(b"\x81\x02hi")
    fin, op, payload = c.recv_frame()
    assert (op, struct.unpack("!H", payload[:2])[0]) == (0x8, 1002)
    assert c.read_eof()


def test_data_after_server_close_is_not_echoed(rust_server):
    """The server starts the close; a message the client sent before it saw that close is
    not answered, and the closing handshake completes."""
    c = RawClient(rust_server.port)
    port = c.sock.getsockname()[1]
    c.sock.sendall(c.frame(0x1, b"/close 4005 done") + c.frame(0x1, b"late message"))
    fin, op, payload = c.recv_frame()
    assert (op, payload) == (0x8, struct.pack("!H", 4005) + b"done")
    c.sock.sendall(c.frame(0x8, struct.pack("!H", 4005) + b"ack"))
    assert c.read_eof()  # no echo of "late message" came first
    log = rust_server.connection_log(port)
    assert (log["code"], log["reason"], log["failure"]) == (4005, "ack", "None")
