"""Keepalive, dead-peer detection, close/handshake/auth timeouts, on a fake clock."""

from __future__ import annotations

import struct

import pytest

from conftest import FakeClock, drain, handshake, pair
from wsmachine import (
    CloseConnection,
    ConnectionState,
    ConnectionType,
    Ping,
    Pong,
    ReadyState,
    Request,
    TextMessage,
    WSConnection,
)


def test_no_timer_while_idle_by_default(clock: FakeClock) -> None:
    c, s = pair(clock=clock)
    assert c.poll_timeout() is None and s.poll_timeout() is None


def test_keepalive_ping_then_dead_peer(clock: FakeClock) -> None:
    c, s = pair(clock=clock, keepalive_interval=30, keepalive_timeout=10)
    t = c.poll_timeout()
    assert t == pytest.approx(clock.t + 30)
    c.handle_timeout(clock.t + 29.9)
    assert c.data_to_send() == b""
    clock.advance(30)
    c.handle_timeout()
    ping = c.data_to_send()
    assert ping[:1] == b"\x89"  # a masked ping from the client
    s.receive_data(ping)
    assert drain(s) == [Ping(payload=b"")]
    assert c.poll_timeout() == pytest.approx(clock.t + 10)
    clock.advance(10)
    c.handle_timeout()
    assert drain(c) == [CloseConnection(code=1006, reason="keepalive timeout")]
    assert c.state is ConnectionState.CLOSED
    assert c.should_close_transport
    assert c.close_code == 1006


def test_keepalive_answered(clock: FakeClock) -> None:
    c, s = pair(clock=clock, keepalive_interval=5, keepalive_timeout=2)
    clock.advance(5)
    s.handle_timeout()
    c.receive_data(s.data_to_send())
    (ping,) = drain(c)
    assert isinstance(ping, Ping)
    clock.advance(1)
    s.receive_data(c.send(ping.response()))
    assert drain(s) == [Pong(payload=b"")]
    clock.advance(1.5)
    s.handle_timeout()
    assert drain(s) == [] and s.state is ConnectionState.OPEN
    assert s.poll_timeout() == pytest.approx(clock.t + 3.5)


def test_close_timeout(clock: FakeClock) -> None:
    c, s = pair(clock=clock, close_timeout=2)
    c.send(CloseConnection(code=1000))
    assert c.poll_timeout() == pytest.approx(clock.t + 2)
    clock.advance(2)
    c.handle_timeout()
    assert drain(c) == [CloseConnection(code=1006, reason="close timeout")]
    assert c.state is ConnectionState.CLOSED and c.should_close_transport


def test_client_waits_for_server_tcp_close_then_gives_up(clock: FakeClock) -> None:
    c, s = pair(clock=clock, close_timeout=3)
    c.receive_data(s.send(CloseConnection(code=1000)))
    (ev,) = drain(c)
    s.receive_data(c.send(ev.response()))  # type: ignore[attr-defined]
    assert drain(s) == [CloseConnection(code=1000, reason="")]
    assert c.state is ConnectionState.CLOSED
    assert not c.should_close_transport  # the server closes TCP first
    assert s.should_close_transport
    clock.advance(3)
    c.handle_timeout()
    assert c.should_close_transport
    assert drain(c) == []


def test_server_handshake_timeout_sends_408(clock: FakeClock) -> None:
    s = WSConnection(ConnectionType.SERVER, clock=clock, handshake_timeout=1.5)
    assert s.poll_timeout() == pytest.approx(clock.t + 1.5)
    s.receive_data(b"GET / HTTP/1.1\r\n")
    clock.advance(1.5)
    s.handle_timeout()
    assert s.data_to_send().startswith(b"HTTP/1.1 408 ")
    assert drain(s) == [CloseConnection(code=1006, reason="handshake timed out")]
    assert s.state is ConnectionState.CLOSED and s.should_close_transport


def test_client_handshake_timeout(clock: FakeClock) -> None:
    c = WSConnection(ConnectionType.CLIENT, clock=clock, handshake_timeout=1)
    c.send(Request(host="h", target="/"))
    clock.advance(1)
    c.handle_timeout()
    assert drain(c) == [CloseConnection(code=1006, reason="handshake timed out")]
    assert c.ready_state is ReadyState.CLOSED


def test_auth_timeout(clock: FakeClock) -> None:
    c = WSConnection(ConnectionType.CLIENT, clock=clock)
    s = WSConnection(ConnectionType.SERVER, clock=clock, auth_timeout=5)
    handshake(c, s)
    assert not s.authenticated
    clock.advance(5)
    s.handle_timeout()
    (ev,) = drain(s)
    assert isinstance(ev, CloseConnection) and ev.code == 1008
    out = s.send(ev.response())
    assert struct.unpack("!H", out[2:4])[0] == 1008
    c.receive_data(out)
    assert drain(c)[0] == CloseConnection(code=1008, reason="authentication timeout")


def test_set_authenticated_stops_auth_timer(clock: FakeClock) -> None:
    c = WSConnection(ConnectionType.CLIENT, clock=clock)
    s = WSConnection(ConnectionType.SERVER, clock=clock, auth_timeout=5)
    handshake(c, s)
    s.receive_data(c.send(TextMessage(data="token")))
    drain(s)
    s.set_authenticated()
    assert s.authenticated and s.poll_timeout() is None
    clock.advance(10)
    s.handle_timeout()
    assert drain(s) == [] and s.state is ConnectionState.OPEN


def test_timeouts_off(clock: FakeClock) -> None:
    s = WSConnection(ConnectionType.SERVER, clock=clock, handshake_timeout=None)
    assert s.poll_timeout() is None
    with pytest.raises(ValueError):
        WSConnection(ConnectionType.SERVER, close_timeout=-1)


def test_clock_origin_is_arbitrary() -> None:
    clock = FakeClock(-5000.25)
    c, s = pair(clock=clock, keepalive_interval=1)
    assert c.poll_timeout() == pytest.approx(-4999.25)
    c.handle_timeout(-4999.25)
    assert c.data_to_send()[:1] == b"\x89"
