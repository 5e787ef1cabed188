"""The connection options have one source of defaults and one validator, both in the core.

``wsmachine.DEFAULTS`` is built by the native module from the core's
``wsmachine::config::defaults`` (plus ``auto_pong``, which follows wsproto). These tests check
every default the docstrings and stubs state against it, check that the connections really
use those values, and that the core's ``Config::validate`` judges the arguments.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
from typing import Any, Optional

import pytest

import wsmachine
from conftest import FakeClock, drain, frame, pair
from wsmachine import (
    DEFAULTS,
    BytesMessage,
    CloseConnection,
    Connection,
    ConnectionType,
    Ping,
    RemoteProtocolError,
    Request,
    WSConnection,
)

#: Options whose signature default is ``None``, standing for the value in ``DEFAULTS``.
NONE_MEANS_DEFAULT = {"max_frame_payload", "max_message_size", "max_fragments", "max_handshake_size"}
UNITS = {"KiB": 1 << 10, "MiB": 1 << 20}
#: How the docstrings state a default: ````name=value```` with an optional ``(16 MiB)``.
STATED = re.compile(r"``(\w+)=([^`]+)``(?: \((\d+) (KiB|MiB)\))?")


def stated_defaults(doc: str) -> dict[str, Any]:
    """The defaults a docstring states, checking any size annotation against the number."""
    found: dict[str, Any] = {}
    for m in STATED.finditer(doc):
        name, literal, n, unit = m.groups()
        value = ast.literal_eval(literal)
        if n is not None:
            assert value == int(n) * UNITS[unit], m.group(0)
        assert name not in found, f"{name} stated twice"
        found[name] = value
    return found


def stub_class(name: str) -> ast.ClassDef:
    """A class of the stub file shipped next to the native module."""
    stub = pathlib.Path(wsmachine.__file__).with_name("_wsmachine.pyi")
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"{name} not in {stub}")


def options(cls: type) -> list[inspect.Parameter]:
    """The keyword-only options of a constructor (without ``clock``)."""
    return [
        p
        for p in inspect.signature(cls).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "clock"
    ]


def test_defaults_cover_every_option_and_are_read_only() -> None:
    assert {p.name for p in options(WSConnection)} == set(DEFAULTS)
    assert {p.name for p in options(Connection)} <= set(DEFAULTS)
    with pytest.raises(TypeError):
        DEFAULTS["max_fragments"] = 1  # type: ignore[index]


@pytest.mark.parametrize("where", ["stub", "runtime"])
def test_docstrings_state_every_default_correctly(where: str) -> None:
    if where == "stub":
        doc = ast.get_docstring(stub_class("WSConnection"))
    else:
        doc = WSConnection.__doc__
    assert doc is not None
    assert stated_defaults(doc) == dict(DEFAULTS)


def check_default(name: str, default: Any) -> None:
    # ``...``: a value computed from the core's constants (runtime) or left unstated (stub).
    if default is Ellipsis or (default is None and name in NONE_MEANS_DEFAULT):
        return
    assert default == DEFAULTS[name], name


@pytest.mark.parametrize("cls", ["WSConnection", "Connection"])
def test_signature_defaults_agree(cls: str) -> None:
    runtime = getattr(wsmachine, cls)
    for p in options(runtime):
        check_default(p.name, p.default)
    new = next(
        n for n in stub_class(cls).body if isinstance(n, ast.FunctionDef) and n.name == "__new__"
    )
    for arg, default in zip(new.args.kwonlyargs, new.args.kw_defaults):
        if arg.arg != "clock" and default is not None:
            check_default(arg.arg, ast.literal_eval(default))


# ----------------------------------------------------------------------------------------
# The connections use these values
# ----------------------------------------------------------------------------------------


def size(name: str) -> int:
    value = DEFAULTS[name]
    assert isinstance(value, int) and not isinstance(value, bool)
    return value


def deadline(clock: FakeClock, seconds: Any) -> Optional[float]:
    return None if seconds is None else clock.t + seconds


def test_timer_defaults_are_in_effect(clock: FakeClock) -> None:
    s = WSConnection(ConnectionType.SERVER, clock=clock)
    assert s.poll_timeout() == pytest.approx(deadline(clock, DEFAULTS["handshake_timeout"]))
    c, s = pair(clock=clock)
    # Once open, only the auth timer (server) and keepalive can run.
    armed = [v for v in (DEFAULTS["auth_timeout"], DEFAULTS["keepalive_interval"]) if v]
    assert s.poll_timeout() == pytest.approx(deadline(clock, min(armed, default=None)))
    c.send(CloseConnection(code=1000))
    assert c.poll_timeout() == pytest.approx(deadline(clock, DEFAULTS["close_timeout"]))
    c, s = pair(clock=clock, keepalive_interval=1)
    clock.advance(1)
    c.handle_timeout()
    assert c.data_to_send()[:1] == b"\x89"
    assert c.poll_timeout() == pytest.approx(deadline(clock, DEFAULTS["keepalive_timeout"]))


def test_auto_pong_default_is_in_effect() -> None:
    c, s = pair()
    s.receive_data(c.send(Ping(payload=b"x")))
    assert drain(s) == [Ping(payload=b"x")]
    assert bool(s.data_to_send()) is DEFAULTS["auto_pong"]


def closes_with_1009(events: list[Any]) -> bool:
    return len(events) == 1 and isinstance(events[0], CloseConnection) and events[0].code == 1009


def test_size_defaults_are_in_effect() -> None:
    limit = size("max_frame_payload")
    c, s = pair()
    s.receive_data(frame(0x2, b"", length=limit))  # the header only: waits for the payload
    assert drain(s) == []
    c, s = pair()
    s.receive_data(frame(0x2, b"", length=limit + 1))
    assert closes_with_1009(drain(s))

    limit = size("max_message_size")
    assert limit - 1 <= size("max_frame_payload")  # (else the frame limit decides first)
    c, s = pair()
    s.receive_data(frame(0x2, b"x", fin=False) + frame(0x0, b"", length=limit - 1))
    assert drain(s) == [BytesMessage(data=b"x", frame_finished=True, message_finished=False)]
    c, s = pair()
    s.receive_data(frame(0x2, b"x", fin=False) + frame(0x0, b"", length=limit))
    assert closes_with_1009(drain(s)[1:])


def test_fragments_default_is_in_effect() -> None:
    limit = size("max_fragments")
    c, s = pair()
    s.receive_data(frame(0x2, b"", fin=False) + frame(0x0, b"", fin=False) * (limit - 1))
    assert not any(isinstance(e, CloseConnection) for e in drain(s))
    s.receive_data(frame(0x0, b""))
    assert closes_with_1009(drain(s))


REQUEST = (
    b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Pad: "
)


@pytest.mark.parametrize("extra", [0, 1])
def test_handshake_size_default_is_in_effect(extra: int) -> None:
    pad = size("max_handshake_size") + extra - len(REQUEST) - len(b"\r\n\r\n")
    head = REQUEST + b"a" * pad + b"\r\n\r\n"
    s = WSConnection(ConnectionType.SERVER)
    if extra == 0:
        s.receive_data(head)
        assert isinstance(drain(s)[0], Request)
    else:
        with pytest.raises(RemoteProtocolError) as info:
            s.receive_data(head)
        assert getattr(info.value.event_hint, "status_code", None) == 431


# ----------------------------------------------------------------------------------------
# The core's validator judges the values
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"max_fragments": 0}, "max_fragments must be at least 1"),
        ({"max_handshake_size": 0}, "max_handshake_size must not be 0"),
        (
            {"keepalive_interval": 1, "keepalive_timeout": None},
            "keepalive_timeout_ms must not be 0 when keepalive is on",
        ),
        ({"close_timeout": (2**31) / 1000}, "timeouts must be at most 2147483647 ms"),
        ({"handshake_timeout": 1e12}, "timeouts must be at most 2147483647 ms"),
    ],
)
def test_invalid_values_raise_the_cores_message(opts: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        WSConnection(ConnectionType.SERVER, **opts)
    if "handshake" not in next(iter(opts)):
        with pytest.raises(ValueError, match=re.escape(message)):
            Connection(ConnectionType.CLIENT, **opts)


def test_values_at_the_edges_are_accepted() -> None:
    WSConnection(ConnectionType.SERVER, max_fragments=1, max_handshake_size=1,
                 max_frame_payload=0, max_message_size=0, close_timeout=(2**31 - 1) / 1000,
                 keepalive_interval=1, keepalive_timeout=0.001)
