"""Each protocol violation and limit gives a CloseConnection with the right code."""

from __future__ import annotations

import struct

import pytest

from conftest import drain, frame, pair, state
from wsmachine import (
    BytesMessage,
    CloseConnection,
    CloseReason,
    ConnectionState,
    ConnectionType,
    LocalProtocolError,
    Request,
    TextMessage,
    WSConnection,
)

# (name, raw frames a client sends, expected code)
CLIENT_VIOLATIONS = [
    ("reserved bits", frame(0x1, b"x", rsv=0b100), 1002),
    ("reserved opcode", frame(0x3, b""), 1002),
    ("reserved control opcode", frame(0xB, b""), 1002),
    ("fragmented control", frame(0x9, b"", fin=False), 1002),
    ("control too long", frame(0x9, b"x" * 126), 1002),
    ("unmasked frame", frame(0x1, b"x", mask=False), 1002),
    ("continuation without message", frame(0x0, b"x"), 1002),
    ("new message inside fragmented one", frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002),
    ("invalid utf-8", frame(0x1, b"\xff\xfe"), 1007),
    ("truncated utf-8 at message end", frame(0x1, "é".encode()[:1]), 1007),
    ("invalid utf-8 across fragments", frame(0x1, b"\xce", fin=False) + frame(0x0, b"a"), 1007),
    ("one-byte close payload", frame(0x8, b"\x03"), 1002),
    ("close code 1005 on the wire", frame(0x8, struct.pack("!H", 1005)), 1002),
    ("close code 999", frame(0x8, struct.pack("!H", 999)), 1002),
    ("close code 2000", frame(0x8, struct.pack("!H", 2000)), 1002),
    ("close reason not utf-8", frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007),
    ("64-bit length with top bit", b"\x82\xff" + b"\x80" + b"\x00" * 7 + b"\x00" * 4, 1002),
]


@pytest.mark.parametrize(("name", "raw", "code"), CLIENT_VIOLATIONS, ids=[v[0] for v in CLIENT_VIOLATIONS])
def test_server_fails_on_client_violation(name: str, raw: bytes, code: int) -> None:
    c, s = pair()
    s.receive_data(raw)
    evs = drain(s)
    assert isinstance(evs[-1], CloseConnection)
    assert evs[-1].code == code
    assert isinstance(evs[-1].code, CloseReason)
    assert evs[-1].reason
    # wsproto's way: answer with the event's response; the core sends its failure close.
    assert s.state is ConnectionState.OPEN
    out = s.send(evs[-1].response())
    assert out[:1] == b"\x88"
    assert struct.unpack("!H", out[2:4])[0] == code
    assert state(s) is ConnectionState.CLOSED
    assert s.should_close_transport
    assert s.close_code == code
    c.receive_data(out)
    assert drain(c)[-1] == CloseConnection(code=code, reason=evs[-1].reason)


def test_failure_close_via_data_to_send() -> None:
    c, s = pair()
    s.receive_data(frame(0x1, b"\xff"))
    (ev,) = drain(s)
    out = s.data_to_send()
    assert struct.unpack("!H", out[2:4])[0] == 1007
    assert s.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        s.send(ev.response())  # type: ignore[attr-defined]
    s.receive_data(b"ignored after failure")
    assert drain(s) == []


def test_client_fails_on_masked_frame_from_server() -> None:
    c, s = pair()
    c.receive_data(frame(0x1, b"masked", mask=True))
    (ev,) = drain(c)
    assert isinstance(ev, CloseConnection) and ev.code == 1002


def test_violation_after_our_close_ends_the_connection() -> None:
    c, s = pair()
    s.send(CloseConnection(code=1000))
    s.receive_data(frame(0x1, b"\xff"))
    (ev,) = drain(s)
    assert isinstance(ev, CloseConnection) and ev.code == 1007
    assert s.state is ConnectionState.CLOSED


@pytest.mark.parametrize(
    ("opts", "frames"),
    [
        ({"max_frame_payload": 100}, [frame(0x2, b"x" * 101)]),
        ({"max_message_size": 100}, [frame(0x2, b"x" * 60, fin=False), frame(0x0, b"x" * 60)]),
        ({"max_fragments": 3}, [frame(0x2, b"x", fin=False)] + [frame(0x0, b"x", fin=False)] * 2 + [frame(0x0, b"x")]),
    ],
    ids=["frame", "message", "fragments"],
)
def test_limits_close_with_1009(opts: dict[str, int], frames: list[bytes]) -> None:
    c, s = pair(**opts)
    s.receive_data(b"".join(frames))
    evs = drain(s)
    assert evs[-1] == CloseConnection(code=CloseReason.MESSAGE_TOO_BIG, reason=evs[-1].reason)  # type: ignore[attr-defined]
    assert struct.unpack("!H", s.data_to_send()[2:4])[0] == 1009


def test_limits_at_the_boundary_pass() -> None:
    c, s = pair(max_frame_payload=100, max_message_size=300, max_fragments=3)
    wire = b"".join(
        c.send(BytesMessage(data=b"y" * 100, message_finished=i == 2)) for i in range(3)
    )
    s.receive_data(wire)
    assert b"".join(e.data for e in drain(s) if isinstance(e, BytesMessage)) == b"y" * 300


def test_frame_limit_applies_before_payload_arrives() -> None:
    c, s = pair(max_frame_payload=1000)
    s.receive_data(frame(0x2, b"", length=1 << 40)[:14])
    (ev,) = drain(s)
    assert isinstance(ev, CloseConnection) and ev.code == 1009


def test_client_handshake_limit() -> None:
    c = WSConnection(ConnectionType.CLIENT, max_handshake_size=128)
    c.send(Request(host="h", target="/"))
    from wsmachine import RemoteProtocolError

    with pytest.raises(RemoteProtocolError):
        c.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X: " + b"y" * 200 + b"\r\n\r\n")


def test_outgoing_text_is_always_valid() -> None:
    c, s = pair()
    with pytest.raises(UnicodeEncodeError):
        c.send(TextMessage(data="\ud800"))
