"""permessage-deflate (RFC 7692): negotiation in both roles, interop with real wsproto's
PerMessageDeflate on the other side, large messages, corrupt data (1007) and a
decompression bomb (1009, in bounded memory)."""

from __future__ import annotations

import resource
import zlib
from typing import Any, Optional, Union

import pytest
import wsproto
import wsproto.events as wev
import wsproto.extensions as wext

from wsmachine import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Connection,
    ConnectionType,
    Event,
    Request,
    TextMessage,
    WSConnection,
)
from wsmachine.wsproto import events as mev
from wsmachine.wsproto.extensions import SUPPORTED_EXTENSIONS, Extension, PerMessageDeflate

from conftest import collect_message, drain, frame

AnyConn = Union[wsproto.WSConnection, WSConnection]


def text(n: int, seed: int = 1) -> str:
    """``n`` characters of word-like text (compressible, not trivially)."""
    words = ["alpha", "beta", "gamma", "delta", "omega", "€uro", "κόσμε", "zeta", "eta"]
    out: list[str] = []
    size = 0
    x = seed | 1
    while size < n:
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        w = words[x % len(words)] + " "
        out.append(w)
        size += len(w)
    return "".join(out)[:n]


def open_pair(
    cext: Optional[PerMessageDeflate], sext: Optional[PerMessageDeflate], **opts: Any
) -> tuple[WSConnection, WSConnection, Request, AcceptConnection, bytes]:
    """A wsmachine client and server; returns them, the events and the response head."""
    c = WSConnection(ConnectionType.CLIENT, **opts)
    s = WSConnection(ConnectionType.SERVER, **opts)
    s.receive_data(c.send(Request(host="h", target="/", extensions=[cext] if cext else [])))
    (req,) = drain(s)
    assert isinstance(req, Request)
    resp = s.send(AcceptConnection(extensions=[sext] if sext else []))
    c.receive_data(resp)
    (acc,) = drain(c)
    assert isinstance(acc, AcceptConnection)
    return c, s, req, acc, resp


def send(src: AnyConn, dst: AnyConn, event: Any) -> tuple[list[Any], bytes]:
    wire = src.send(event)
    dst.receive_data(wire)
    return list(dst.events()), wire


def joined(events: list[Any]) -> Union[str, bytes]:
    assert events and events[-1].message_finished
    if type(events[0]).__name__ == "TextMessage":
        return "".join(e.data for e in events)
    return b"".join(bytes(e.data) for e in events)


# --- the Python class -------------------------------------------------------------------


def test_class_matches_wsproto() -> None:
    ours = PerMessageDeflate()
    theirs = wext.PerMessageDeflate()
    assert ours.name == theirs.name == "permessage-deflate"
    assert SUPPORTED_EXTENSIONS["permessage-deflate"] is PerMessageDeflate
    cases: list[dict[str, Any]] = [
        {},
        {"client_max_window_bits": 10, "server_no_context_takeover": True},
        {"client_no_context_takeover": True, "server_max_window_bits": 9},
    ]
    for args in cases:
        o, t = PerMessageDeflate(**args), wext.PerMessageDeflate(**args)
        assert o.offer() == t.offer()
        assert repr(o) == repr(t)
        for a in ("client_no_context_takeover", "client_max_window_bits",
                  "server_no_context_takeover", "server_max_window_bits"):
            assert getattr(o, a) == getattr(t, a)
    assert not ours.enabled()
    for bad in (8, 16, 0):
        with pytest.raises(ValueError):
            PerMessageDeflate(client_max_window_bits=bad)
        with pytest.raises(ValueError):
            wext.PerMessageDeflate(client_max_window_bits=bad)
    with pytest.raises(ValueError):
        ours.server_max_window_bits = 7


def test_accept_and_finalize_like_wsproto() -> None:
    # A server's accept and a client's finalize outside a WSConnection.
    s = PerMessageDeflate()
    params = s.accept("permessage-deflate; client_max_window_bits=12; server_no_context_takeover")
    assert isinstance(params, str) and s.enabled()
    assert "server_no_context_takeover" in params and "client_max_window_bits=12" in params
    assert s.client_max_window_bits == 12 and s.server_no_context_takeover
    assert PerMessageDeflate().accept("permessage-deflate; bogus") is None
    c = PerMessageDeflate(client_max_window_bits=12)
    c.finalize("permessage-deflate; " + params)
    assert c.enabled() and c.client_max_window_bits == 12 and c.server_no_context_takeover
    with pytest.raises(ValueError):
        PerMessageDeflate(server_max_window_bits=10).finalize("permessage-deflate")


# --- negotiation between two wsmachine ends -----------------------------------------------


def test_negotiated_when_both_want_it() -> None:
    cext, sext = PerMessageDeflate(), PerMessageDeflate()
    c, s, req, acc, resp = open_pair(cext, sext)
    assert req.extensions == ["permessage-deflate; client_max_window_bits"]
    assert b"Sec-WebSocket-Extensions: permessage-deflate\r\n" in resp
    assert acc.extensions == [cext] and cext.enabled() and sext.enabled()
    events, wire = send(c, s, TextMessage(data="x" * 1000))
    assert wire[0] & 0x40 and len(wire) < 100  # RSV1, compressed
    assert collect_message(events) == ("text", "x" * 1000)
    events, wire = send(s, c, BytesMessage(data=b"y" * 1000))
    assert wire[0] & 0x40 and len(wire) < 100
    assert collect_message(events) == ("bytes", b"y" * 1000)


@pytest.mark.parametrize("cext,sext", [(None, PerMessageDeflate()), (PerMessageDeflate(), None),
                                       (None, None)])
def test_not_negotiated_without_both(cext: Optional[PerMessageDeflate],
                                     sext: Optional[PerMessageDeflate]) -> None:
    c, s, req, acc, resp = open_pair(cext, sext)
    assert b"sec-websocket-extensions" not in resp.lower()
    assert acc.extensions == []
    assert cext is None or not cext.enabled()
    events, wire = send(c, s, TextMessage(data="x" * 1000))
    assert not wire[0] & 0x40 and len(wire) > 1000
    assert collect_message(events) == ("text", "x" * 1000)


def test_negotiated_parameters_are_recorded() -> None:
    cext = PerMessageDeflate(client_max_window_bits=11, server_max_window_bits=12,
                             client_no_context_takeover=True)
    sext = PerMessageDeflate(server_no_context_takeover=True)
    c, s, req, acc, resp = open_pair(cext, sext)
    head = resp.decode()
    assert "server_no_context_takeover" in head and "client_no_context_takeover" in head
    assert "server_max_window_bits=12" in head and "client_max_window_bits=11" in head
    for e in (cext, sext):
        assert (e.client_max_window_bits, e.server_max_window_bits) == (11, 12)
        assert e.client_no_context_takeover and e.server_no_context_takeover
    for i in range(3):  # no context: every message decodes on its own
        msg = text(5000, seed=i)
        assert collect_message(send(c, s, TextMessage(data=msg))[0]) == ("text", msg)
        assert collect_message(send(s, c, TextMessage(data=msg))[0]) == ("text", msg)


def test_server_declines_offer_it_cannot_limit() -> None:
    # The server wants the client's window at 10 bits but the offer does not allow a limit
    # (wsproto's own offer always does; a bare offer does not).
    s = WSConnection(ConnectionType.SERVER)
    s.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    drain(s)
    ext = PerMessageDeflate(client_max_window_bits=10)
    resp = s.send(AcceptConnection(extensions=[ext]))
    assert b"extensions" not in resp.lower() and not ext.enabled()


def test_other_extensions_are_offered_next_to_permessage_deflate() -> None:
    class Other(Extension):
        name = "x-other"

        def offer(self) -> Union[bool, str]:
            return True

    c = WSConnection(ConnectionType.CLIENT)
    out = c.send(Request(host="h", target="/", extensions=[Other(), PerMessageDeflate()]))
    assert b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in out
    assert b"Sec-WebSocket-Extensions: x-other\r\n" in out


def test_small_messages_go_uncompressed() -> None:
    c, s, *_ = open_pair(PerMessageDeflate(), PerMessageDeflate())
    events, wire = send(c, s, TextMessage(data="short"))
    assert not wire[0] & 0x40
    assert collect_message(events) == ("text", "short")


def test_fragmented_send_is_compressed() -> None:
    c, s, *_ = open_pair(PerMessageDeflate(), PerMessageDeflate())
    msg = text(60000)
    parts = [msg[i:i + 7000] for i in range(0, len(msg), 7000)]
    got: list[Event] = []
    total = 0
    for i, p in enumerate(parts):
        ev, wire = send(c, s, TextMessage(data=p, message_finished=i == len(parts) - 1))
        total += len(wire)
        got += ev
    assert total < len(msg.encode()) // 2
    assert collect_message(got) == ("text", msg)


def test_post_handshake_connection() -> None:
    # A handshake done elsewhere (wsproto's accept / finalize), then wsproto's Connection.
    sext = PerMessageDeflate()
    answer = sext.accept("permessage-deflate; client_max_window_bits")
    assert answer is not None and not isinstance(answer, bool)
    cext = PerMessageDeflate()
    cext.finalize("permessage-deflate; " + answer if answer else "permessage-deflate")
    c = Connection(ConnectionType.CLIENT, extensions=[cext])
    s = Connection(ConnectionType.SERVER, extensions=[sext])
    msg = text(20000)
    events, wire = send(c, s, TextMessage(data=msg))
    assert wire[0] & 0x40 and len(wire) < 10000
    assert collect_message(events) == ("text", msg)
    # Not enabled: plain frames.
    p = Connection(ConnectionType.CLIENT, extensions=[PerMessageDeflate()])
    assert not p.send(TextMessage(data=msg))[0] & 0x40


# --- against real wsproto -----------------------------------------------------------------

SETTINGS = [
    {},
    {"client_no_context_takeover": True, "server_no_context_takeover": True},
    {"client_max_window_bits": 9, "server_max_window_bits": 9},
    {"client_max_window_bits": 12, "server_max_window_bits": 10, "server_no_context_takeover": True},
    {"client_max_window_bits": 15, "server_max_window_bits": 11, "client_no_context_takeover": True},
]


def interop_pair(
    ours_client: bool, ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[AnyConn, AnyConn, Any, Any, Any, Any]:
    """(client, server, client events module, server events module, our ext, their ext)."""
    me, te = PerMessageDeflate(**ours), wext.PerMessageDeflate(**theirs)
    c: AnyConn
    s: AnyConn
    cev: Any
    sev: Any
    cext: Any
    sext: Any
    if ours_client:
        c, s = WSConnection(ConnectionType.CLIENT), wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        cev, sev, cext, sext = mev, wev, me, te
    else:
        c, s = wsproto.WSConnection(wsproto.ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
        cev, sev, cext, sext = wev, mev, te, me
    s.receive_data(c.send(cev.Request(host="h", target="/", extensions=[cext])))
    (req,) = list(s.events())
    assert type(req).__name__ == "Request"
    c.receive_data(s.send(sev.AcceptConnection(extensions=[sext])))
    (acc,) = list(c.events())
    assert type(acc).__name__ == "AcceptConnection"
    return c, s, cev, sev, me, te


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda d: ",".join(f"{k[:8]}{v}" for k, v in d.items()) or "default")
@pytest.mark.parametrize("ours_client", [True, False], ids=["wsmachine-client", "wsproto-client"])
def test_interop_with_wsproto(ours_client: bool, settings: dict[str, Any]) -> None:
    c, s, cev, sev, me, te = interop_pair(ours_client, settings, settings)
    assert me.enabled() and te.enabled()
    for a in ("client_no_context_takeover", "server_no_context_takeover",
              "client_max_window_bits", "server_max_window_bits"):
        assert getattr(me, a) == getattr(te, a), a
    raw_total = wire_total = 0
    # Related messages in a row: with context takeover the later ones refer back.
    for i in range(6):
        msg = text(3000 + 997 * i, seed=7)
        ev, wire = send(c, s, cev.TextMessage(data=msg))
        assert wire[0] & 0x40
        assert joined(ev) == msg
        raw_total += len(msg.encode())
        wire_total += len(wire)
        blob = (msg * 2).encode()
        ev, wire = send(s, c, sev.BytesMessage(data=blob))
        assert wire[0] & 0x40
        assert joined(ev) == blob
    assert wire_total < raw_total // 2
    # A 1 MiB message each way.
    big = text(1 << 20, seed=3)
    ev, wire = send(c, s, cev.TextMessage(data=big))
    assert joined(ev) == big and len(wire) < len(big) // 2
    ev, wire = send(s, c, sev.TextMessage(data=big))
    assert joined(ev) == big and len(wire) < len(big) // 2


@pytest.mark.parametrize("ours_client", [True, False], ids=["wsmachine-client", "wsproto-client"])
def test_interop_different_window_bits(ours_client: bool) -> None:
    # Each side configured differently: the negotiation must still agree.
    ours = {"client_max_window_bits": 10, "server_max_window_bits": 13}
    theirs = {"client_max_window_bits": 14, "server_max_window_bits": 9}
    c, s, cev, sev, me, te = interop_pair(ours_client, ours, theirs)
    assert me.enabled() and te.enabled()
    msg = text(200000, seed=11)
    for _ in range(2):
        ev, wire = send(c, s, cev.TextMessage(data=msg))
        assert joined(ev) == msg
        ev, wire = send(s, c, sev.TextMessage(data=msg))
        assert joined(ev) == msg


def test_wsproto_fragmented_compressed_message() -> None:
    c, s, cev, sev, me, te = interop_pair(False, {}, {})
    msg = text(50000)
    got: list[Any] = []
    parts = [msg[i:i + 9000] for i in range(0, len(msg), 9000)]
    for i, p in enumerate(parts):
        got += send(c, s, cev.TextMessage(data=p, message_finished=i == len(parts) - 1))[0]
    assert joined(got) == msg


# --- large, corrupt and hostile input -----------------------------------------------------


def test_one_mib_messages_compressed() -> None:
    c, s, *_ = open_pair(PerMessageDeflate(), PerMessageDeflate())
    big = text(1 << 20, seed=5)
    ev, wire = send(c, s, TextMessage(data=big))
    assert collect_message(ev) == ("text", big)
    assert wire[0] & 0x40 and len(wire) < len(big.encode()) // 2
    blob = bytes(range(256)) * 4096
    ev, wire = send(s, c, BytesMessage(data=blob))
    assert collect_message(ev) == ("bytes", blob)
    assert len(wire) < 64 * 1024


def deflate_raw(data: bytes, wbits: int = 15) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def server_side(**opts: Any) -> tuple[WSConnection, WSConnection]:
    c, s, *_ = open_pair(PerMessageDeflate(), PerMessageDeflate(), **opts)
    return c, s


def close_of(events: list[Event]) -> int:
    closes = [e for e in events if isinstance(e, CloseConnection)]
    assert closes, events
    return int(closes[0].code)


def test_hand_made_compressed_frame_is_inflated() -> None:
    _, s = server_side()
    s.receive_data(frame(0x1, deflate_raw("héllo wörld ".encode() * 50), rsv=4))
    assert collect_message(drain(s)) == ("text", "héllo wörld " * 50)


@pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", b"\x07\x00garbage", b"\x02" * 40])
def test_corrupt_compressed_data_closes_1007(payload: bytes) -> None:
    _, s = server_side()
    s.receive_data(frame(0x2, payload, rsv=4))
    assert close_of(drain(s)) == 1007
    out = s.send(CloseConnection(code=1000))
    assert out[0] == 0x88 and out[2:4] == (1007).to_bytes(2, "big")


def test_compressed_invalid_utf8_closes_1007() -> None:
    _, s = server_side()
    s.receive_data(frame(0x1, deflate_raw(b"ok \xc3\x28 bad" * 10), rsv=4))
    assert close_of(drain(s)) == 1007


def test_bomb_closes_1009_in_bounded_memory() -> None:
    limit = 1 << 20
    _, s = server_side(max_message_size=limit)
    # 256 MiB of zeros in about 250 KB: far over the limit once inflated.
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [z.compress(chunk) for _ in range(256)]
    bomb = b"".join(parts) + z.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    s.receive_data(frame(0x2, bomb, rsv=4))
    assert close_of(drain(s)) == 1009
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # The inflated data is held up to the limit (1 MiB) at most, never the 256 MiB.
    assert after - before < 32 * 1024, (before, after)
    out = s.send(CloseConnection(code=1000))
    assert out[2:4] == (1009).to_bytes(2, "big")


def test_bomb_split_across_frames_counts_the_message() -> None:
    limit = 1 << 20
    _, s = server_side(max_message_size=limit)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = z.compress(bytes(3 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)[:-4]
    half = len(data) // 2
    s.receive_data(frame(0x2, data[:half], rsv=4, fin=False) + frame(0x0, data[half:]))
    events = drain(s)
    assert close_of(events) == 1009
    assert sum(len(e.data) for e in events if isinstance(e, BytesMessage)) <= limit


def test_rsv1_without_negotiation_closes_1002() -> None:
    c = WSConnection(ConnectionType.CLIENT)
    s = WSConnection(ConnectionType.SERVER)
    s.receive_data(c.send(Request(host="h", target="/")))
    drain(s)
    c.receive_data(s.send(AcceptConnection(extensions=[])))
    drain(c)
    s.receive_data(frame(0x1, deflate_raw(b"hello" * 20), rsv=4))
    assert close_of(drain(s)) == 1002


# --- 8-bit windows (zlib cannot compress with them; the engine's own compressor does) ------

UPGRADE = (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


def unframe(wire: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one unmasked frame."""
    n = wire[1] & 0x7F
    at = 2
    if n == 126:
        n, at = int.from_bytes(wire[2:4], "big"), 4
    elif n == 127:
        n, at = int.from_bytes(wire[2:10], "big"), 10
    assert len(wire) == at + n
    return wire[0], wire[at:]


def window_probe(seed: int) -> str:
    """Text with repeats 200 bytes apart (an 8-bit window can use them) and 400 bytes apart
    (only a larger window can: a compressor that uses them breaks an 8-bit decoder)."""
    import random

    r = random.Random(seed)
    a = "".join(chr(r.randrange(97, 123)) for _ in range(200))
    b = "".join(chr(r.randrange(97, 123)) for _ in range(400))
    return a * 20 + b * 20


def inflate_8_bits(d: Any, data: bytes) -> bytes:
    """Inflates with zlib's 256-byte window in 16-byte steps, so that every back-reference
    further than the window is caught ("invalid distance too far back")."""
    out = []
    while data:
        out.append(d.decompress(data, 16))
        data = d.unconsumed_tail
    return b"".join(out)


def test_window_probe_catches_larger_windows() -> None:
    m = window_probe(1).encode()
    z = zlib.compressobj(6, zlib.DEFLATED, -10)
    with pytest.raises(zlib.error):
        inflate_8_bits(zlib.decompressobj(wbits=-8), z.compress(m) + z.flush(zlib.Z_SYNC_FLUSH))


def test_server_compresses_with_an_8_bit_window_when_asked() -> None:
    s = WSConnection(ConnectionType.SERVER)
    s.receive_data(UPGRADE + b"Sec-WebSocket-Extensions: permessage-deflate; "
                   b"server_max_window_bits=8; client_max_window_bits\r\n\r\n")
    drain(s)
    ext = PerMessageDeflate()
    resp = s.send(AcceptConnection(extensions=[ext]))
    assert b"server_max_window_bits=8" in resp and ext.server_max_window_bits == 8
    # A 256-byte window decompressor (zlib inflates 8-bit streams) must read every message:
    # a back-reference further than 256 bytes would be "invalid distance too far back".
    d = zlib.decompressobj(wbits=-8)
    total = 0
    for i in range(5):
        msg = window_probe(i)
        head, payload = unframe(s.send(TextMessage(data=msg)))
        assert head == 0xC1
        total += len(payload)
        assert inflate_8_bits(d, payload + b"\x00\x00\xff\xff").decode() == msg
    assert total < 5 * 12000 * 0.7  # it does compress


def test_client_complies_with_an_8_bit_client_window() -> None:
    # RFC 7692 7.1.2.2: the server may limit the client's window when the offer has
    # client_max_window_bits; the client must comply (or fail the connection).
    c = WSConnection(ConnectionType.CLIENT)
    ext = PerMessageDeflate()
    req = c.send(Request(host="h", target="/", extensions=[ext]))
    key = [line.split(b": ")[1] for line in req.split(b"\r\n") if line.startswith(b"Sec-WebSocket-Key")][0]
    import base64
    import hashlib

    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    c.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Accept: " + accept + b"\r\n"
                   b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8\r\n\r\n")
    (acc,) = drain(c)
    assert isinstance(acc, AcceptConnection) and acc.extensions == [ext]
    assert ext.client_max_window_bits == 8
    d = zlib.decompressobj(wbits=-8)
    for i in range(3):
        msg = window_probe(i + 7)
        wire = c.send(TextMessage(data=msg))
        assert wire[0] == 0xC1 and wire[1] & 0x80
        n = int.from_bytes(wire[2:10], "big") if wire[1] & 0x7F == 127 else int.from_bytes(wire[2:4], "big")
        at = 10 if wire[1] & 0x7F == 127 else 4
        mask, body = wire[at:at + 4], wire[at + 4:]
        assert len(body) == n
        payload = bytes(b ^ mask[j % 4] for j, b in enumerate(body))
        assert inflate_8_bits(d, payload + b"\x00\x00\xff\xff").decode() == msg
