"""Data, control frames and the closing handshake, in both directions."""

from __future__ import annotations

import pytest

from conftest import collect_message, drain, pair, state, transfer
from wsmachine import (
    BytesMessage,
    CloseConnection,
    CloseReason,
    ConnectionState,
    LocalProtocolError,
    Message,
    Ping,
    Pong,
    ReadyState,
    TextMessage,
    WSConnection,
)

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20]
DIRECTIONS = ["client->server", "server->client"]


def ends(direction: str) -> tuple[WSConnection, WSConnection]:
    c, s = pair()
    return (c, s) if direction == "client->server" else (s, c)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_binary_echo(size: int, direction: str) -> None:
    a, b = ends(direction)
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    got = transfer(a, b, BytesMessage(data=payload))
    assert collect_message(got) == ("bytes", payload)
    back = transfer(b, a, BytesMessage(data=payload))
    assert collect_message(back) == ("bytes", payload)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_text_echo(size: int, direction: str) -> None:
    a, b = ends(direction)
    text = ("aé€😀" * (size // 10 + 1))[: max(size // 3, 0)]
    got = transfer(a, b, TextMessage(data=text))
    assert collect_message(got) == ("text", text)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_text_split_inside_code_points(direction: str) -> None:
    a, b = ends(direction)
    text = "€😀é" * 50
    wire = a.send(TextMessage(data=text))
    got = []
    for i in range(len(wire)):
        b.receive_data(wire[i : i + 1])
        got += drain(b)
    assert all(isinstance(e, TextMessage) for e in got)
    assert collect_message(got) == ("text", text)
    assert len(got) > 1


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_fragmented_messages(direction: str) -> None:
    a, b = ends(direction)
    wire = a.send(TextMessage(data="hel", message_finished=False))
    wire += a.send(TextMessage(data="lo ", message_finished=False))
    # Control frames may come between fragments.
    wire += a.send(Ping(payload=b"between"))
    wire += a.send(TextMessage(data="world", message_finished=True))
    b.receive_data(wire)
    evs = drain(b)
    assert evs == [
        TextMessage(data="hel", frame_finished=True, message_finished=False),
        TextMessage(data="lo ", frame_finished=True, message_finished=False),
        Ping(payload=b"between"),
        TextMessage(data="world", frame_finished=True, message_finished=True),
    ]
    wire = a.send(BytesMessage(data=b"\x00" * 10, message_finished=False))
    wire += a.send(BytesMessage(data=b"", message_finished=False))
    wire += a.send(BytesMessage(data=b"\x01", message_finished=True))
    b.receive_data(wire)
    assert collect_message(drain(b)) == ("bytes", b"\x00" * 10 + b"\x01")


def test_partial_frames_are_delivered_as_they_arrive() -> None:
    c, s = pair()
    wire = c.send(BytesMessage(data=b"x" * 1000))
    s.receive_data(wire[:500])
    first = drain(s)
    assert len(first) == 1 and isinstance(first[0], BytesMessage)
    assert not first[0].frame_finished and not first[0].message_finished
    s.receive_data(wire[500:])
    rest = drain(s)
    assert isinstance(rest[-1], BytesMessage) and rest[-1].frame_finished
    assert collect_message(first + rest) == ("bytes", b"x" * 1000)


def test_data_type_decides_opcode_and_mixing_is_an_error() -> None:
    c, s = pair()
    # wsproto sends by data type: bytes in a TextMessage go out binary.
    assert transfer(c, s, TextMessage(data=b"raw")) == [BytesMessage(data=b"raw")]  # type: ignore[arg-type]
    assert transfer(c, s, Message(data="generic")) == [TextMessage(data="generic")]
    c.send(TextMessage(data="a", message_finished=False))
    with pytest.raises(TypeError):
        c.send(BytesMessage(data=b"b"))
    with pytest.raises(TypeError):
        c.send(BytesMessage(data=123))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["bytearray", "memoryview"])
def test_bytes_like_input_and_payloads(kind: str) -> None:
    c, s = pair()
    wire = c.send(BytesMessage(data=bytearray(b"abc")))  # type: ignore[arg-type]
    data = bytearray(wire) if kind == "bytearray" else memoryview(wire)
    s.receive_data(data)
    assert drain(s) == [BytesMessage(data=b"abc")]
    assert transfer(s, c, Ping(payload=memoryview(b"mv"))) == [Ping(payload=b"mv")]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_ping_pong(direction: str) -> None:
    a, b = ends(direction)
    (ping,) = transfer(a, b, Ping(payload=b"are you there"))
    assert isinstance(ping, Ping) and ping.payload == b"are you there"
    assert b.data_to_send() == b""  # wsproto: the application answers pings
    assert transfer(b, a, ping.response()) == [Pong(payload=b"are you there")]
    assert transfer(a, b, Pong(payload=b"unsolicited")) == [Pong(payload=b"unsolicited")]
    assert transfer(a, b, Ping()) == [Ping(payload=b"")]
    with pytest.raises(ValueError):
        a.send(Ping(payload=b"x" * 126))


def test_auto_pong() -> None:
    c, s = pair(auto_pong=True)
    s.receive_data(c.send(Ping(payload=b"p")))
    assert drain(s) == [Ping(payload=b"p")]
    c.receive_data(s.data_to_send())
    assert drain(c) == [Pong(payload=b"p")]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_close_initiated_by_either_side(direction: str) -> None:
    a, b = ends(direction)
    wire = a.send(CloseConnection(code=CloseReason.GOING_AWAY, reason="bye"))
    assert a.state is ConnectionState.LOCAL_CLOSING
    assert a.ready_state is ReadyState.CLOSING
    with pytest.raises(LocalProtocolError):
        a.send(TextMessage(data="after close"))
    b.receive_data(wire)
    (ev,) = drain(b)
    assert ev == CloseConnection(code=1001, reason="bye")
    assert isinstance(ev, CloseConnection) and ev.code is CloseReason.GOING_AWAY
    assert b.state is ConnectionState.REMOTE_CLOSING
    a.receive_data(b.send(ev.response()))
    assert state(b) is ConnectionState.CLOSED
    assert drain(a) == [CloseConnection(code=1001, reason="bye")]
    assert state(a) is ConnectionState.CLOSED
    assert a.close_code == 1001 and b.close_code == 1001
    server = b if direction == "client->server" else a
    assert server.should_close_transport
    for end in (a, b):
        end.receive_data(None)
        assert drain(end) == []  # a clean close is not reported again


def test_close_without_code_and_long_reason() -> None:
    c, s = pair()
    s.receive_data(c.send(CloseConnection(code=1000, reason="é" * 100)))
    (ev,) = drain(s)
    assert isinstance(ev, CloseConnection) and ev.reason is not None
    assert len(ev.reason.encode()) <= 123 and set(ev.reason) == {"é"}
    c2, s2 = pair()
    # A code-less close frame from the peer arrives as 1005 and is echoed without a code.
    from conftest import frame

    s2.receive_data(frame(0x8, b""))
    (ev2,) = drain(s2)
    assert ev2 == CloseConnection(code=CloseReason.NO_STATUS_RCVD, reason="")
    assert isinstance(ev2, CloseConnection)
    assert s2.send(ev2.response()) == b"\x88\x00"


def test_messages_before_a_close_in_the_same_read_can_be_answered() -> None:
    c, s = pair()
    s.receive_data(c.send(TextMessage(data="last")) + c.send(CloseConnection(code=1000)))
    it = s.events()
    assert next(it) == TextMessage(data="last")
    echo = s.send(TextMessage(data="last"))  # the close is not parsed yet
    close = next(it)
    assert isinstance(close, CloseConnection)
    c.receive_data(echo + s.send(close.response()))
    assert drain(c) == [TextMessage(data="last"), CloseConnection(code=1000, reason="")]


def test_eof_reports_abnormal_closure() -> None:
    c, s = pair()
    s.receive_data(c.send(TextMessage(data="hi")))
    s.receive_data(None)
    assert s.state is ConnectionState.CLOSED
    assert drain(s) == [TextMessage(data="hi"), CloseConnection(code=CloseReason.ABNORMAL_CLOSURE)]
    assert s.close_code == 1006
    with pytest.raises(LocalProtocolError):
        s.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        s.send(TextMessage(data="x"))


def test_send_misuse_in_closing_states() -> None:
    c, s = pair()
    s.receive_data(c.send(CloseConnection(code=1000)))
    drain(s)
    with pytest.raises(LocalProtocolError):
        s.send(TextMessage(data="x"))
    with pytest.raises(LocalProtocolError):
        s.send(Ping())
    s.send(CloseConnection(code=1000))
    with pytest.raises(LocalProtocolError):
        s.send(CloseConnection(code=1000))
    c2, _ = pair()
    with pytest.raises(LocalProtocolError):
        c2.send(CloseConnection(code=999))
    with pytest.raises(LocalProtocolError):
        c2.send(object())  # type: ignore[arg-type]


def test_local_only_codes_are_sent_as_normal() -> None:
    c, s = pair()
    s.receive_data(c.send(CloseConnection(code=CloseReason.ABNORMAL_CLOSURE)))
    assert drain(s) == [CloseConnection(code=1000, reason="")]
