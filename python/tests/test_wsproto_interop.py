"""The same scenarios against real wsproto (pinned, dev-only) on the other side:
wsmachine client <-> wsproto server, and wsproto client <-> wsmachine server."""

from __future__ import annotations

from typing import Any, Union

import pytest
import wsproto
import wsproto.events as wev
from wsproto.connection import ConnectionState as WState

import wsmachine
from wsmachine import wsproto as wm  # the compatibility layout
from wsmachine.wsproto import events as mev

AnyConn = Union[wsproto.WSConnection, wm.WSConnection]
FIELDS = {
    "Request": ("host", "target", "extensions", "extra_headers", "subprotocols"),
    "AcceptConnection": ("subprotocol", "extensions", "extra_headers"),
    "RejectConnection": ("status_code", "headers", "has_body"),
    "RejectData": ("data", "body_finished"),
    "CloseConnection": ("code", "reason"),
    "TextMessage": ("data", "frame_finished", "message_finished"),
    "BytesMessage": ("data", "frame_finished", "message_finished"),
    "Ping": ("payload",),
    "Pong": ("payload",),
}


def drain(conn: AnyConn) -> list[Any]:
    return list(conn.events())


def norm(events: list[Any]) -> list[Any]:
    """Library-neutral events, with message chunks joined."""
    out: list[Any] = []
    parts: list[Any] = []
    for e in events:
        name = type(e).__name__
        if name in ("TextMessage", "BytesMessage"):
            parts.append(bytes(e.data) if name == "BytesMessage" else e.data)
            if e.message_finished:
                out.append((name, "".join(parts) if name == "TextMessage" else b"".join(parts)))
                parts = []
            continue
        fields = tuple(
            int(v) if k == "code" else bytes(v) if isinstance(v, bytearray) else v
            for k, v in ((k, getattr(e, k)) for k in FIELDS[name])
        )
        out.append((name, fields))
    return out


def connect(client: AnyConn, server: AnyConn, ev: Any, sev: Any) -> tuple[list[Any], list[Any]]:
    server.receive_data(client.send(ev.Request(host="example.com", target="/chat",
                                              subprotocols=["a", "b"],
                                              extra_headers=[(b"x-token", b"t")])))
    (req,) = drain(server)
    assert type(req).__name__ == "Request"
    assert req.subprotocols == ["a", "b"] and (b"x-token", b"t") in req.extra_headers
    client.receive_data(server.send(sev.AcceptConnection(subprotocol="b",
                                                         extra_headers=[(b"x-srv", b"1")])))
    (acc,) = drain(client)
    assert type(acc).__name__ == "AcceptConnection"
    assert acc.subprotocol == "b" and acc.extra_headers == [(b"x-srv", b"1")]
    return [req], [acc]


@pytest.fixture(params=["wsmachine-client", "wsproto-client"])
def conns(request: pytest.FixtureRequest) -> tuple[AnyConn, AnyConn, Any, Any]:
    cev: Any
    sev: Any
    if request.param == "wsmachine-client":
        c: AnyConn = wm.WSConnection(wm.ConnectionType.CLIENT)
        s: AnyConn = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        cev, sev = mev, wev
    else:
        c = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        s = wm.WSConnection(wm.ConnectionType.SERVER)
        cev, sev = wev, mev
    connect(c, s, cev, sev)
    return c, s, cev, sev


def test_open(conns: tuple[AnyConn, AnyConn, Any, Any]) -> None:
    c, s, _, _ = conns
    assert c.state.name == "OPEN" and s.state.name == "OPEN"


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65536, 1 << 20])
def test_echo_both_ways(conns: tuple[AnyConn, AnyConn, Any, Any], size: int) -> None:
    c, s, cev, sev = conns
    payload = bytes(i % 251 for i in range(size))
    text = "ü€😀"[: size % 4] + "t" * (size // 2)
    s.receive_data(c.send(cev.BytesMessage(data=payload)) + c.send(cev.TextMessage(data=text)))
    got = norm(drain(s))
    assert got == [("BytesMessage", payload), ("TextMessage", text)]
    c.receive_data(s.send(sev.BytesMessage(data=payload)) + s.send(sev.TextMessage(data=text)))
    assert norm(drain(c)) == got


def test_fragments_pings_and_close_from_client(conns: tuple[AnyConn, AnyConn, Any, Any]) -> None:
    c, s, cev, sev = conns
    wire = c.send(cev.TextMessage(data="frag", message_finished=False))
    wire += c.send(cev.Ping(payload=b"p1"))
    wire += c.send(cev.TextMessage(data="ment", message_finished=True))
    s.receive_data(wire)
    evs = drain(s)
    assert norm(evs) == [("Ping", (b"p1",)), ("TextMessage", "fragment")] or norm(evs) == [
        ("TextMessage", "fragment")
    ] + [("Ping", (b"p1",))] or [type(e).__name__ for e in evs] == [
        "TextMessage", "Ping", "TextMessage"]
    ping = next(e for e in evs if type(e).__name__ == "Ping")
    c.receive_data(s.send(ping.response()))
    assert norm(drain(c)) == [("Pong", (b"p1",))]
    s.receive_data(c.send(cev.CloseConnection(code=1000, reason="bye")))
    (close,) = drain(s)
    assert norm([close]) == [("CloseConnection", (1000, "bye"))]
    assert s.state.name == "REMOTE_CLOSING"
    c.receive_data(s.send(close.response()))
    assert norm(drain(c)) == [("CloseConnection", (1000, "bye"))]
    assert c.state.name == "CLOSED" and s.state.name == "CLOSED"


def test_close_from_server(conns: tuple[AnyConn, AnyConn, Any, Any]) -> None:
    c, s, cev, sev = conns
    c.receive_data(s.send(sev.CloseConnection(code=1001, reason="restart")))
    (close,) = drain(c)
    assert norm([close]) == [("CloseConnection", (1001, "restart"))]
    s.receive_data(c.send(close.response()))
    assert norm(drain(s)) == [("CloseConnection", (1001, "restart"))]
    assert c.state.name == "CLOSED" and s.state.name == "CLOSED"


def test_server_failure_close_reaches_the_peer(conns: tuple[AnyConn, AnyConn, Any, Any]) -> None:
    c, s, cev, sev = conns
    # A server frame the client must reject: a reserved opcode.
    c.receive_data(b"\x83\x00")
    (ev,) = drain(c)
    assert type(ev).__name__ == "CloseConnection" and int(ev.code) == 1002
    s.receive_data(c.send(ev.response()))
    (got,) = drain(s)
    assert int(got.code) == 1002


@pytest.mark.parametrize("length", ["content-length", "chunked"])
@pytest.mark.parametrize("client_lib", ["wsmachine", "wsproto"])
def test_rejection_with_body(client_lib: str, length: str) -> None:
    body = b"go away\n" * 20
    c: Any
    s: Any
    cev: Any
    sev: Any
    if client_lib == "wsmachine":
        c = wm.WSConnection(wm.ConnectionType.CLIENT)
        s = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        cev, sev = mev, wev
    else:
        c = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        s = wm.WSConnection(wm.ConnectionType.SERVER)
        cev, sev = wev, mev
    s.receive_data(c.send(cev.Request(host="h", target="/")))
    drain(s)
    headers = [(b"content-type", b"text/plain")]
    if length == "content-length":
        headers.append((b"content-length", str(len(body)).encode()))
    wire = s.send(sev.RejectConnection(status_code=403, has_body=True, headers=headers))
    wire += s.send(sev.RejectData(data=body[:50], body_finished=False))
    wire += s.send(sev.RejectData(data=body[50:], body_finished=True))
    assert s.state.name == "CLOSED"
    if client_lib == "wsmachine" and length == "chunked":
        assert b"transfer-encoding: chunked" in wire.lower()  # wsproto (h11) chunks the body
    evs = []
    for i in range(0, len(wire), 7):  # in small pieces: chunk headers get split
        c.receive_data(wire[i : i + 7])
        evs += drain(c)
    assert type(evs[0]).__name__ == "RejectConnection"
    assert evs[0].status_code == 403 and evs[0].has_body
    assert (b"content-type", b"text/plain") in evs[0].headers
    assert b"".join(e.data for e in evs[1:]) == body
    assert evs[-1].body_finished
    assert c.state.name == "CLOSED"


def test_same_bytes_same_events() -> None:
    """Feed identical server-bound bytes to wsproto and to wsmachine: same events."""
    wc = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    wire = wc.send(wev.Request(host="example.com", target="/x", subprotocols=["p"],
                               extra_headers=[(b"Origin", b"o")]))
    from wsmachine.wsproto.connection import Connection

    mc = Connection(wm.ConnectionType.CLIENT)
    ours = wm.WSConnection(wm.ConnectionType.SERVER)
    theirs = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    for end in (ours, theirs):
        end.receive_data(wire)
    a, b = norm(drain(ours)), norm(drain(theirs))
    assert a == b
    ours.send(mev.AcceptConnection())
    theirs.send(wev.AcceptConnection())
    frames = mc.send(mev.TextMessage(data="héllo wörld", message_finished=False))
    frames += mc.send(mev.TextMessage(data="!", message_finished=True))
    frames += mc.send(mev.BytesMessage(data=b"\x00\x01"))
    frames += mc.send(mev.Ping(payload=b"x")) + mc.send(mev.Pong(payload=b"y"))
    frames += b"\x81\x82\x00\x00\x00\x00\xff\xfe"  # invalid UTF-8: 1007
    for end in (ours, theirs):
        end.receive_data(frames)
    a, b = norm(drain(ours)), norm(drain(theirs))
    assert [x for x in a if x[0] != "CloseConnection"] == [x for x in b if x[0] != "CloseConnection"]
    assert a[-1][0] == b[-1][0] == "CloseConnection" and a[-1][1][0] == b[-1][1][0] == 1007
    ours.receive_data(None)
    theirs.receive_data(None)
    assert ours.state.name == theirs.state.name == WState.CLOSED.name


def test_api_surface_matches_wsproto() -> None:
    import dataclasses

    import wsproto.connection
    import wsproto.frame_protocol
    import wsproto.utilities

    from wsmachine.wsproto import connection as mconn
    from wsmachine.wsproto import frame_protocol as mfp
    from wsmachine.wsproto import utilities as mutil

    assert [m.name for m in mconn.ConnectionState] == [m.name for m in wsproto.connection.ConnectionState]
    assert [m.value for m in mconn.ConnectionState] == [m.value for m in wsproto.connection.ConnectionState]
    assert [m.name for m in mconn.ConnectionType] == [m.name for m in wsproto.connection.ConnectionType]
    assert {m.name: m.value for m in wsproto.frame_protocol.CloseReason}.items() <= {
        m.name: m.value for m in mfp.CloseReason}.items()
    assert {m.name: m.value for m in wsproto.frame_protocol.Opcode} == {
        m.name: m.value for m in mfp.Opcode}
    assert issubclass(mutil.LocalProtocolError, mutil.ProtocolError)
    assert issubclass(mutil.RemoteProtocolError, mutil.ProtocolError)
    assert mutil.RemoteProtocolError("x", event_hint=None).event_hint is None
    assert mutil.generate_accept_token(b"dGhlIHNhbXBsZSBub25jZQ==") == \
        wsproto.utilities.generate_accept_token(b"dGhlIHNhbXBsZSBub25jZQ==")
    # Every event: same fields, same defaults, same positional order, same equality.
    samples = {
        "Request": ("h", "/t"), "AcceptConnection": (), "RejectConnection": (),
        "RejectData": (b"d",), "CloseConnection": (1000,), "TextMessage": ("t",),
        "BytesMessage": (b"b",), "Ping": (), "Pong": (),
    }
    for name, args in samples.items():
        theirs = getattr(wev, name)(*args)
        ours = getattr(mev, name)(*args)
        assert [f.name for f in dataclasses.fields(theirs)] == list(FIELDS[name])
        assert type(ours).__match_args__ == FIELDS[name]
        for f in FIELDS[name]:
            assert getattr(ours, f) == getattr(theirs, f), (name, f)
        assert repr(ours) == repr(theirs).replace("wsproto.events.", "")
        assert ours == getattr(mev, name)(*args) and hash(ours) == hash(getattr(mev, name)(*args)) \
            if name not in ("Request", "AcceptConnection", "RejectConnection") else ours == ours
    assert isinstance(mev.TextMessage("x"), mev.Message) and isinstance(mev.Ping(), mev.Event)
    assert mev.CloseConnection(1000, "r").response() == mev.CloseConnection(1000, "r")
    assert mev.Ping(b"p").response() == mev.Pong(b"p")
    assert wsmachine.Message[str] is not None
