"""Shared helpers: an in-memory client/server pair, a fake clock and a raw frame builder."""

from __future__ import annotations

import os
import struct
from typing import Any, Optional

import pytest
from hypothesis import settings

from wsmachine import (
    AcceptConnection,
    BytesMessage,
    ConnectionState,
    ConnectionType,
    Event,
    Message,
    Request,
    TextMessage,
    WSConnection,
)


# No example database: nothing is written into the work tree.
settings.register_profile("wsmachine", database=None)
settings.load_profile("wsmachine")


class FakeClock:
    """A settable clock (seconds), passed as ``clock=``."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> float:
        self.t += dt
        return self.t


def state(ws: WSConnection) -> ConnectionState:
    """The state, unnarrowed (mypy narrows ``ws.state`` after an assert on it)."""
    return ws.state


def drain(ws: WSConnection) -> list[Event]:
    return list(ws.events())


def handshake(
    client: WSConnection,
    server: WSConnection,
    *,
    subprotocols: Optional[list[str]] = None,
    accept_subprotocol: Optional[str] = None,
) -> None:
    server.receive_data(
        client.send(Request(host="example.com", target="/chat", subprotocols=subprotocols or []))
    )
    (req,) = drain(server)
    assert isinstance(req, Request)
    client.receive_data(server.send(AcceptConnection(subprotocol=accept_subprotocol)))
    (acc,) = drain(client)
    assert isinstance(acc, AcceptConnection)


def pair(**opts: Any) -> tuple[WSConnection, WSConnection]:
    """A connected (client, server) pair with the same options."""
    client = WSConnection(ConnectionType.CLIENT, **opts)
    server = WSConnection(ConnectionType.SERVER, **opts)
    handshake(client, server)
    return client, server


def transfer(src: WSConnection, dst: WSConnection, event: Event) -> list[Event]:
    """Sends ``event`` from ``src`` and returns what ``dst`` makes of it."""
    dst.receive_data(src.send(event))
    return drain(dst)


def collect_message(events: list[Event]) -> tuple[Any, ...]:
    """Joins the chunks of one message: (kind, data)."""
    assert events and all(isinstance(e, Message) for e in events)
    assert isinstance(events[-1], Message) and events[-1].message_finished
    if isinstance(events[0], TextMessage):
        return ("text", "".join(e.data for e in events if isinstance(e, TextMessage)))
    return ("bytes", b"".join(e.data for e in events if isinstance(e, BytesMessage)))


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length: Optional[int] = None,
) -> bytes:
    """A raw frame (``mask=True`` for frames a client sends)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 1 << 16:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
