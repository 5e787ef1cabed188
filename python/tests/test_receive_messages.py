"""WSConnection.receive_messages: whole messages per call, max_messages, and a pong for every
ping (the fast path wsmachine.asyncio reads through)."""

from __future__ import annotations

from conftest import frame, handshake, pair

from wsmachine import (
    BytesMessage,
    CloseConnection,
    ConnectionState,
    ConnectionType,
    Ping,
    Pong,
    TextMessage,
    WSConnection,
)


def test_whole_messages_in_one_call() -> None:
    client, server = pair()
    data = client.send(TextMessage("he", message_finished=False))
    data += client.send(TextMessage("llo wörld", message_finished=True))
    data += client.send(BytesMessage(b"\x00\x01"))
    data += client.send(TextMessage("x" * 70000))
    got = server.receive_messages(data)
    assert got == ["hello wörld", b"\x00\x01", "x" * 70000]
    # Split anywhere, the same messages come out.
    client, server = pair()
    out: list[object] = []
    for i in range(0, len(data), 7):
        out += server.receive_messages(data[i : i + 7])
    assert out == ["hello wörld", b"\x00\x01", "x" * 70000]
    assert server.receive_messages(b"") == []


def test_max_messages_leaves_the_rest_unparsed() -> None:
    client, server = pair()
    data = b"".join(client.send(TextMessage(str(i))) for i in range(5))
    assert server.receive_messages(data, 2) == ["0", "1"]
    assert server.receive_messages(b"", 0) == []
    assert server.receive_messages(b"", 1) == ["2"]
    assert server.receive_messages(b"") == ["3", "4"]


def test_input_pending_says_whether_parsing_again_can_yield() -> None:
    client, server = pair()
    assert not server.input_pending
    data = b"".join(client.send(TextMessage(str(i))) for i in range(3))
    assert server.receive_messages(data, 1) == ["0"]
    assert server.input_pending
    assert server.receive_messages(b"", 2) == ["1", "2"]
    assert not server.input_pending
    assert server.receive_messages(b"") == []
    # Half a frame: pending (it may complete), and nothing comes out of it yet.
    whole = client.send(BytesMessage(b"x" * 300))
    assert server.receive_messages(whole[:5]) == []
    assert server.input_pending
    assert server.receive_messages(whole[5:]) == [b"x" * 300]
    assert not server.input_pending
    # An end of file is pending until parsed.
    server.receive_data(None)
    assert server.input_pending
    (closed,) = server.receive_messages(b"")
    assert isinstance(closed, CloseConnection) and closed.code == 1006
    assert not server.input_pending


def test_a_message_before_a_violation_is_handed_out_first() -> None:
    """With max_messages=1 the frame after a message is judged only on the next call, so
    the application can still answer the message."""
    client, server = pair()
    data = client.send(TextMessage("hello")) + frame(0x1, b"bad", rsv=1)
    assert server.receive_messages(data, 1) == ["hello"]
    assert server.state is ConnectionState.OPEN
    echo = server.send(TextMessage("hello"))
    assert echo
    (failure,) = server.receive_messages(b"", 1)
    assert isinstance(failure, CloseConnection) and failure.code == 1002


def test_every_ping_gets_its_pong() -> None:
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER, auto_pong=True)
    handshake(client, server)
    data = b"".join(client.send(Ping(b"p%d" % i)) for i in range(10))
    events = server.receive_messages(data)
    assert [e.payload for e in events if isinstance(e, Ping)] == [b"p%d" % i for i in range(10)]
    client.receive_data(server.data_to_send())
    pongs = [e.payload for e in client.events() if isinstance(e, Pong)]
    assert pongs == [b"p%d" % i for i in range(10)]


def test_input_after_a_clean_close_is_dropped() -> None:
    client, server = pair()
    server.receive_messages(client.send(CloseConnection(1000)))
    client.receive_data(server.send(CloseConnection(1000)))
    list(client.events())
    assert server.state is ConnectionState.CLOSED
    # receive_data would raise LocalProtocolError here (as wsproto); an event loop just drops it.
    assert server.receive_messages(frame(0x1, b"late")) == []
