"""wsproto's public API beyond the connection: the utilities, user ``Extension`` subclasses
(negotiated through their hooks, against ourselves and against real wsproto), ``H11Handshake``,
the handshake's error messages and the moments ``LocalProtocolError`` is raised."""

from __future__ import annotations

from typing import Any, Optional, Union

import pytest
import wsproto
import wsproto.events as wev
import wsproto.extensions as wext

from conftest import drain, frame
from wsmachine.wsproto import ConnectionType, WSConnection
from wsmachine.wsproto.connection import Connection, ConnectionState
from wsmachine.wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsmachine.wsproto.extensions import Extension, PerMessageDeflate
from wsmachine.wsproto.frame_protocol import Opcode, RsvBits
from wsmachine.wsproto.handshake import (
    H11Handshake,
    client_extensions_handshake,
    server_extensions_handshake,
)
from wsmachine.wsproto.utilities import (
    LocalProtocolError,
    RemoteProtocolError,
    generate_accept_token,
    generate_nonce,
    normed_header_dict,
    split_comma_header,
)

CLIENT, SERVER = ConnectionType.CLIENT, ConnectionType.SERVER


class Recorder(Extension):
    """An extension that only negotiates, recording what its hooks were given."""

    def __init__(self, name: str, offer: Union[bool, str] = True,
                 accept: Union[bool, str, None] = True) -> None:
        self.name = name
        self.offer_answer = offer
        self.accept_answer = accept
        self.offered: list[str] = []
        self.finalized: list[str] = []

    def offer(self) -> Union[bool, str]:
        return self.offer_answer

    def accept(self, offer: str) -> Union[bool, str, None]:
        self.offered.append(offer)
        return self.accept_answer

    def finalize(self, offer: str) -> None:
        self.finalized.append(offer)


def handshake(cext: list[Extension], sext: list[Extension]) -> tuple[WSConnection, WSConnection,
                                                                       bytes, bytes]:
    c, s = WSConnection(CLIENT), WSConnection(SERVER)
    request = c.send(Request(host="h", target="/", extensions=cext))
    s.receive_data(request)
    (req,) = drain(s)
    assert isinstance(req, Request)
    response = s.send(AcceptConnection(extensions=sext))
    c.receive_data(response)
    return c, s, request, response


def header(head: bytes, name: bytes) -> list[bytes]:
    return [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
            if line.lower().startswith(name.lower() + b":")]


def test_utilities() -> None:
    headers = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    assert normed_header_dict(headers) == {b"a": b"1, 3", b"b": b"2"}
    assert split_comma_header(b"x, y ;p=1 ,z") == ["x", "y ;p=1", "z"]
    assert len(generate_nonce()) == 24
    assert RsvBits(True, False, False).rsv1


@pytest.mark.parametrize(
    ("offer", "accept", "offer_element", "response_element"),
    [
        (True, True, b"x-rec", b"x-rec"),
        ("a=1; b", "a=2", b"x-rec; a=1; b", b"x-rec; a=2"),
        (True, "", b"x-rec", b"x-rec"),
    ],
)
def test_user_extension_negotiated(offer: Union[bool, str], accept: Union[bool, str],
                                   offer_element: bytes, response_element: bytes) -> None:
    cext, sext = Recorder("x-rec", offer=offer), Recorder("x-rec", accept=accept)
    c, s, request, response = handshake([cext], [sext])
    assert header(request, b"sec-websocket-extensions") == [offer_element]
    assert sext.offered == [offer_element.decode()]
    assert header(response, b"sec-websocket-extensions") == [response_element]
    assert drain(c) == [AcceptConnection(extensions=[cext])]
    assert cext.finalized == [response_element.decode()]
    assert c.state is ConnectionState.OPEN and s.state is ConnectionState.OPEN
    # Frames pass untouched (the frame hooks are not called).
    s.receive_data(c.send(TextMessage(data="hi")))
    assert drain(s) == [TextMessage(data="hi")]


def test_user_extension_not_offered_or_declined() -> None:
    cext = Recorder("x-rec", offer=False)
    _, _, request, _ = handshake([cext], [Recorder("x-rec")])
    assert header(request, b"sec-websocket-extensions") == []
    cext, sext = Recorder("x-rec"), Recorder("x-rec", accept=None)
    c, _, _, response = handshake([cext], [sext])
    assert sext.offered == ["x-rec"] and header(response, b"sec-websocket-extensions") == []
    assert drain(c) == [AcceptConnection()] and cext.finalized == []


def test_user_extension_next_to_permessage_deflate() -> None:
    cext, sext = Recorder("x-rec"), Recorder("x-rec")
    cpmd, spmd = PerMessageDeflate(), PerMessageDeflate()
    c, s, _, response = handshake([cpmd, cext], [sext, spmd])
    assert header(response, b"sec-websocket-extensions") == [
        b"permessage-deflate", b"x-rec"]
    (accept,) = drain(c)
    assert isinstance(accept, AcceptConnection) and accept.extensions == [cpmd, cext]
    assert cpmd.enabled() and spmd.enabled()
    s.receive_data(c.send(TextMessage(data="x" * 1000)))
    assert "".join(e.data for e in drain(s) if isinstance(e, TextMessage)) == "x" * 1000


def test_user_extension_cannot_claim_rsv_bits() -> None:
    c, s, _, _ = handshake([Recorder("x-rec")], [Recorder("x-rec")])
    drain(c)
    s.receive_data(frame(0x1, b"hi", mask=True, rsv=0b010))
    (ev,) = drain(s)
    assert isinstance(ev, CloseConnection) and ev.code == 1002


class Framing(Recorder):
    """An extension that would transform payloads: the engine cannot run it."""

    def frame_outbound(self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes,
                       fin: bool) -> tuple[RsvBits, bytes]:
        return rsv, data[::-1]


def test_extension_with_frame_hooks_is_not_negotiated() -> None:
    c = WSConnection(CLIENT)
    with pytest.warns(RuntimeWarning, match="overrides frame_outbound"):
        request = c.send(Request(host="h", target="/", extensions=[Framing("x-rev")]))
    assert header(request, b"sec-websocket-extensions") == []
    s = WSConnection(SERVER)
    s.receive_data(request.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: x-rev\r\n\r\n"))
    drain(s)
    sext = Framing("x-rev")
    with pytest.warns(RuntimeWarning, match="is not negotiated"):
        response = s.send(AcceptConnection(extensions=[sext]))
    assert header(response, b"sec-websocket-extensions") == [] and sext.offered == []


def test_response_with_an_extension_not_offered() -> None:
    c = WSConnection(CLIENT)
    request = c.send(Request(host="h", target="/", extensions=[Recorder("x-rec")]))
    (key,) = header(request, b"sec-websocket-key")
    with pytest.raises(RemoteProtocolError) as info:
        c.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                       + generate_accept_token(key)
                       + b"\r\nSec-WebSocket-Extensions: x-rec, bad; p\r\n\r\n")
    assert str(info.value) == "unrecognized extension bad"


@pytest.mark.parametrize("client_ours", [True, False])
def test_user_extension_against_wsproto(client_ours: bool) -> None:
    class Theirs(wext.Extension):
        name = "x-rec"

        def __init__(self) -> None:
            self.finalized: Optional[str] = None

        def offer(self) -> Union[bool, str]:
            return "p=1"

        def accept(self, offer: str) -> Union[bool, str, None]:
            return "p=2"

        def finalize(self, offer: str) -> None:
            self.finalized = offer

    ours = Recorder("x-rec", offer="p=1", accept="p=2")
    if client_ours:
        c, ws = WSConnection(CLIENT), wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        ws.receive_data(c.send(Request(host="h", target="/", extensions=[ours])))
        (req,) = list(ws.events())
        assert isinstance(req, wev.Request) and req.extensions == ["x-rec; p=1"]
        c.receive_data(ws.send(wev.AcceptConnection(extensions=[Theirs()])))
        assert drain(c) == [AcceptConnection(extensions=[ours])]
        assert ours.finalized == ["x-rec; p=2"]
    else:
        theirs = Theirs()
        wc, s = wsproto.WSConnection(wsproto.ConnectionType.CLIENT), WSConnection(SERVER)
        s.receive_data(wc.send(wev.Request(host="h", target="/", extensions=[theirs])))
        drain(s)
        wc.receive_data(s.send(AcceptConnection(extensions=[ours])))
        (acc,) = list(wc.events())
        assert isinstance(acc, wev.AcceptConnection) and acc.extensions == [theirs]
        assert ours.offered == ["x-rec; p=1"] and theirs.finalized == "x-rec; p=2"


def test_extension_negotiation_helpers() -> None:
    a, b = Recorder("a", accept="q=1"), Recorder("b", accept=None)
    assert server_extensions_handshake(["a; q", "b", "c"], [a, b]) == b"a; q=1"
    assert server_extensions_handshake(["c"], [a, b]) is None
    assert client_extensions_handshake(["a; q=1"], [a, b]) == [a] and a.finalized == ["a; q=1"]
    with pytest.raises(RemoteProtocolError, match="unrecognized extension c"):
        client_extensions_handshake(["c"], [a, b])


def test_h11_handshake() -> None:
    client, server = H11Handshake(CLIENT), H11Handshake(SERVER)
    assert client.connection is None and repr(client) == (
        "H11Handshake(client=True, state=ConnectionState.CONNECTING)")
    server.receive_data(client.send(Request(host="h", target="/")))
    (req,) = list(server.events())
    assert isinstance(req, Request) and server.connection is None
    with pytest.raises(LocalProtocolError):
        server.send(Ping())
    response = server.send(AcceptConnection())
    conn = server.connection
    assert conn is not None and server.state is ConnectionState.OPEN
    # Frames right behind the 101 are left to the connection.
    client.receive_data(response + conn.send(TextMessage(data="early")))
    assert list(client.events()) == [AcceptConnection()]
    assert list(client.events()) == []
    cconn = client.connection
    assert cconn is not None and drain(cconn) == [TextMessage(data="early")]


def test_h11_handshake_rejected() -> None:
    client, server = H11Handshake(CLIENT), H11Handshake(SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    client.receive_data(server.send(RejectConnection(status_code=403)))
    assert list(client.events()) == [
        RejectConnection(status_code=403, headers=[(b"content-length", b"0"),
                                                   (b"connection", b"close")], has_body=True),
        RejectData(data=b"", body_finished=True)]
    assert client.connection is None and server.connection is None


def test_idna_host() -> None:
    c, s = WSConnection(CLIENT), WSConnection(SERVER)
    wire = c.send(Request(host="bücher.example", target="/"))
    assert b"Host: xn--bcher-kva.example\r\n" in wire
    s.receive_data(wire)
    (req,) = drain(s)
    assert isinstance(req, Request) and req.host == "bücher.example"


@pytest.mark.parametrize(
    ("request_head", "message"),
    [
        (b"POST / HTTP/1.1\r\nHost: h\r\n", "Request method must be GET"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n",
         "Missing header, 'Upgrade: websocket'"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n",
         "Missing header, 'Connection: Upgrade'"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Version: 13\r\n", "Missing header, 'Sec-WebSocket-Key'"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
         "Missing header, 'Sec-WebSocket-Version'"),
        (b"nonsense\r\n", "Bad HTTP message"),
    ],
)
def test_request_error_messages(request_head: bytes, message: str) -> None:
    s = WSConnection(SERVER)
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(request_head + b"\r\n")
    assert str(info.value) == message


@pytest.mark.parametrize("client_closes", [True, False])
def test_receive_data_after_clean_close_raises(client_closes: bool) -> None:
    c, s = Connection(CLIENT), Connection(SERVER)
    a, b = (c, s) if client_closes else (s, c)
    b.receive_data(a.send(CloseConnection(code=1000)))
    (close,) = drain(b)
    assert isinstance(close, CloseConnection)
    a.receive_data(b.send(close.response()))
    drain(a)
    for end in (a, b):
        assert end.state is ConnectionState.CLOSED
        with pytest.raises(LocalProtocolError):
            end.receive_data(b"more")


def test_empty_data_ends_a_refusal_body() -> None:
    c = WSConnection(CLIENT)
    c.send(Request(host="h", target="/"))
    c.receive_data(b"HTTP/1.1 400 Bad Request\r\n\r\nbody")
    assert drain(c) == [RejectConnection(status_code=400, headers=[], has_body=True),
                        RejectData(data=b"body", body_finished=False)]
    c.receive_data(b"")  # h11, and so wsproto, takes b"" for end-of-file here
    assert drain(c) == [RejectData(data=b"", body_finished=True)]
    assert c.state is ConnectionState.CLOSED


def test_request_target_as_given() -> None:
    # wsproto (h11) sends any target of visible ASCII, "foo" as in its own docs.
    c, s = WSConnection(CLIENT), WSConnection(SERVER)
    wire = c.send(Request(host="h", target="foo"))
    assert wire.startswith(b"GET foo HTTP/1.1\r\n")
    s.receive_data(wire)
    (req,) = drain(s)
    assert isinstance(req, Request) and req.target == "foo"
    c.receive_data(s.send(AcceptConnection()))
    assert drain(c) == [AcceptConnection()]
    with pytest.raises(LocalProtocolError):
        WSConnection(CLIENT).send(Request(host="h", target="a b"))


def test_handshake_made_elsewhere_with_permessage_deflate() -> None:
    # As servers that parse the request themselves do (hypercorn): the helper answers the
    # offer, then the post-handshake Connection compresses; real wsproto is the client.
    import wsproto.connection as wconn

    offer = "permessage-deflate; client_max_window_bits"
    spmd = PerMessageDeflate()
    answer = server_extensions_handshake([offer], [spmd])
    assert answer == b"permessage-deflate; client_max_window_bits=15" and spmd.enabled()
    cpmd = wext.PerMessageDeflate()
    cpmd.finalize(answer.decode())
    client = wconn.Connection(wconn.ConnectionType.CLIENT, extensions=[cpmd])
    server = Connection(SERVER, extensions=[spmd])
    wire = client.send(wev.TextMessage(data="ping " * 100))
    assert wire[0] & 0x40  # RSV1: compressed
    server.receive_data(wire)
    assert "".join(e.data for e in drain(server) if isinstance(e, TextMessage)) == "ping " * 100
    wire = server.send(TextMessage(data="pong " * 100))
    assert wire[0] & 0x40
    client.receive_data(wire)
    assert "".join(e.data for e in client.events() if isinstance(e, wev.TextMessage)) == (
        "pong " * 100)
