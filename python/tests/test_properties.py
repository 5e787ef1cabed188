"""Property tests: however the input is split, the same events come out."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import drain, pair
from wsmachine import (
    BytesMessage,
    CloseConnection,
    ConnectionType,
    Event,
    Message,
    Ping,
    Pong,
    Request,
    TextMessage,
    WSConnection,
)

messages = st.lists(
    st.one_of(
        st.text(max_size=300).map(lambda t: ("text", t)),
        st.binary(max_size=300).map(lambda b: ("bytes", b)),
        st.binary(max_size=125).map(lambda b: ("ping", b)),
        st.tuples(st.text(max_size=40), st.integers(1, 4)).map(lambda x: ("fragmented", x)),
    ),
    max_size=12,
)


def normalize(events: list[Event]) -> list[Any]:
    """Whole messages instead of chunks (chunk boundaries depend on the reads)."""
    out: list[Any] = []
    parts: list[Any] = []
    for e in events:
        if isinstance(e, Message):
            parts.append(e.data)
            if e.message_finished:
                if isinstance(e, TextMessage):
                    out.append(("text", "".join(parts)))
                else:
                    out.append(("bytes", b"".join(parts)))
                parts = []
        elif isinstance(e, (Ping, Pong)):
            out.append((type(e).__name__, e.payload))
        elif isinstance(e, CloseConnection):
            out.append(("close", int(e.code), e.reason))
        else:
            out.append(e)
    assert parts == []
    return out


def encode(sender: WSConnection, plan: list[Any]) -> tuple[bytes, list[Any]]:
    wire = b""
    expected: list[Any] = []
    for kind, value in plan:
        if kind == "ping":
            wire += sender.send(Ping(payload=value))
            expected.append(("Ping", value))
        elif kind == "fragmented":
            text, n = value
            step = max(1, len(text) // n)
            pieces = [text[i : i + step] for i in range(0, len(text), step)] or [""]
            for i, p in enumerate(pieces):
                wire += sender.send(TextMessage(data=p, message_finished=i == len(pieces) - 1))
            expected.append(("text", text))
        elif kind == "text":
            wire += sender.send(TextMessage(data=value))
            expected.append(("text", value))
        else:
            wire += sender.send(BytesMessage(data=value))
            expected.append(("bytes", value))
    wire += sender.send(CloseConnection(code=1000, reason="done"))
    expected.append(("close", 1000, "done"))
    return wire, expected


def feed(receiver: WSConnection, wire: bytes, cuts: list[int]) -> list[Event]:
    events: list[Event] = []
    last = 0
    for cut in sorted(set(c % (len(wire) + 1) for c in cuts)) + [len(wire)]:
        receiver.receive_data(wire[last:cut])
        events += drain(receiver)
        last = cut
    return events


@settings(max_examples=150, deadline=None)
@given(plan=messages, cuts=st.lists(st.integers(0, 10**6), max_size=30), to_server=st.booleans())
def test_splits_give_the_same_events(plan: list[Any], cuts: list[int], to_server: bool) -> None:
    c, s = pair()
    sender, receiver = (c, s) if to_server else (s, c)
    wire, expected = encode(sender, plan)
    whole = normalize(feed(pair()[1 if to_server else 0], wire, []))
    assert whole == expected
    assert normalize(feed(receiver, wire, cuts)) == expected


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 10**6), max_size=20), subprotocols=st.lists(
    st.sampled_from(["chat", "v2.proto", "x-y"]), max_size=3, unique=True))
def test_handshake_splits(cuts: list[int], subprotocols: list[str]) -> None:
    c = WSConnection(ConnectionType.CLIENT)
    s = WSConnection(ConnectionType.SERVER)
    wire = c.send(Request(host="example.com", target="/a?b=c", subprotocols=subprotocols))
    events = feed(s, wire, cuts)
    assert len(events) == 1 and isinstance(events[0], Request)
    assert events[0].subprotocols == subprotocols and events[0].target == "/a?b=c"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 10**6), max_size=10))
def test_arbitrary_bytes_never_crash(data: bytes, cuts: list[int]) -> None:
    for end in pair():
        events = feed(end, data, cuts)
        closes = [e for e in events if isinstance(e, CloseConnection)]
        assert len(closes) <= 1
