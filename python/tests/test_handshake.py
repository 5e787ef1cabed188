"""Opening handshake: accept, reject (with bodies), invalid requests and responses."""

from __future__ import annotations

import pytest

from conftest import drain, frame, pair, state
from wsmachine import (
    AcceptConnection,
    ConnectionState,
    ConnectionType,
    LocalProtocolError,
    RejectConnection,
    RejectData,
    RemoteProtocolError,
    Request,
    TextMessage,
    WSConnection,
)

KEY_REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)


def server() -> WSConnection:
    return WSConnection(ConnectionType.SERVER)


def client() -> WSConnection:
    return WSConnection(ConnectionType.CLIENT)


def test_accept_with_subprotocol_and_headers() -> None:
    c, s = client(), server()
    req_bytes = c.send(
        Request(
            host="example.com",
            target="/chat?x=1",
            subprotocols=["chat.v2", "chat.v1"],
            extra_headers=[(b"Origin", b"https://example.com"), ("Cookie", "a=b")],
        )
    )
    assert c.state is ConnectionState.CONNECTING
    s.receive_data(req_bytes)
    (req,) = drain(s)
    assert isinstance(req, Request)
    assert req.host == "example.com"
    assert req.target == "/chat?x=1"
    assert req.subprotocols == ["chat.v2", "chat.v1"]
    assert req.extensions == []
    names = [n for n, _ in req.extra_headers]
    assert (b"origin", b"https://example.com") in req.extra_headers
    assert (b"cookie", b"a=b") in req.extra_headers
    assert b"host" not in names and b"sec-websocket-protocol" not in names
    assert b"sec-websocket-key" in names
    reply = s.send(AcceptConnection(subprotocol="chat.v1", extra_headers=[(b"Set-Cookie", b"s=1")]))
    assert reply.startswith(b"HTTP/1.1 101 ")
    assert s.state is ConnectionState.OPEN
    c.receive_data(reply)
    (acc,) = drain(c)
    assert acc == AcceptConnection(subprotocol="chat.v1", extra_headers=[(b"set-cookie", b"s=1")])
    assert state(c) is ConnectionState.OPEN
    assert c.ready_state == 1 and s.ready_state == 1


def test_unoffered_subprotocol_is_a_local_error() -> None:
    c, s = client(), server()
    s.receive_data(c.send(Request(host="h", target="/", subprotocols=["a"])))
    drain(s)
    with pytest.raises(LocalProtocolError):
        s.send(AcceptConnection(subprotocol="b"))
    assert s.state is ConnectionState.CONNECTING


@pytest.mark.parametrize("split", [1, 2, 7, 50])
def test_handshake_in_pieces_and_frames_behind_it(split: int) -> None:
    c, s = client(), server()
    data = c.send(Request(host="example.com", target="/"))
    # Frames the client sends right after its request arrive before the server accepts.
    c2 = WSConnection(ConnectionType.CLIENT)
    c2.send(Request(host="example.com", target="/"))
    trailing = frame(0x1, b"early")
    stream = data + trailing
    seen = []
    for i in range(0, len(stream), split):
        s.receive_data(stream[i : i + split])
        seen += drain(s)
    assert len(seen) == 1 and isinstance(seen[0], Request)
    c.receive_data(s.send(AcceptConnection()))
    assert drain(s) == [TextMessage(data="early")]
    assert isinstance(drain(c)[0], AcceptConnection)


def test_reject_without_body() -> None:
    c, s = client(), server()
    s.receive_data(c.send(Request(host="h", target="/")))
    drain(s)
    out = s.send(RejectConnection(status_code=403, headers=[(b"X-Why", b"nope")]))
    assert out.startswith(b"HTTP/1.1 403 ")
    assert b"Content-Length: 0\r\n" in out
    assert s.state is ConnectionState.CLOSED
    assert s.should_close_transport
    c.receive_data(out)
    evs = drain(c)
    assert isinstance(evs[0], RejectConnection)
    assert evs[0].status_code == 403 and evs[0].has_body
    assert (b"x-why", b"nope") in evs[0].headers
    assert evs[1:] == [RejectData(data=b"", body_finished=True)]
    assert c.state is ConnectionState.CLOSED


@pytest.mark.parametrize("pieces", [1, 3])
def test_reject_with_body_in_pieces(pieces: int) -> None:
    """A refusal with a body streams as wsproto's does (h11 chunks a body without
    Content-Length): the head at once, then each RejectData as the same chunk bytes wsproto
    sends; our client and wsproto's read it alike."""
    import wsproto
    import wsproto.events as wev

    body = b"authentication required\n" * 10
    step = len(body) // pieces + 1
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    headers = [(b"Content-Type", b"text/plain")]
    c, s = client(), server()
    theirs = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    request = c.send(Request(host="h", target="/"))
    for end in (s, theirs):
        end.receive_data(request)
        assert len(list(end.events())) == 1
    # A Content-Length given by the application is dropped: the engine frames the body.
    head = s.send(RejectConnection(status_code=401, has_body=True,
                                   headers=headers + [(b"Content-Length", b"999")]))
    their_head = theirs.send(wev.RejectConnection(status_code=401, has_body=True, headers=headers))
    assert head.startswith(b"HTTP/1.1 401 ") and their_head.startswith(b"HTTP/1.1 401 ")
    for h in (head, their_head):
        assert b"\r\ntransfer-encoding: chunked\r\n" in h.lower()
        assert b"content-length" not in h.lower()
    assert s.state is ConnectionState.REJECTING
    assert theirs.state.name == "REJECTING"
    ours_out = [s.send(RejectData(data=ch, body_finished=i == len(chunks) - 1))
                for i, ch in enumerate(chunks)]
    their_out = [theirs.send(wev.RejectData(data=ch, body_finished=i == len(chunks) - 1))
                 for i, ch in enumerate(chunks)]
    assert ours_out == their_out and all(ours_out)  # each piece goes out at once
    assert state(s) is ConnectionState.CLOSED
    assert s.should_close_transport
    out = head + b"".join(ours_out)
    # Our client and wsproto's read the response in small pieces.
    wc = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    wc.send(wev.Request(host="h", target="/"))
    for reader in (c, wc):
        got: list[object] = []
        for i in range(0, len(out), 17):
            reader.receive_data(out[i : i + 17])
            got += list(reader.events())
        first, last = got[0], got[-1]
        assert isinstance(first, (RejectConnection, wev.RejectConnection))
        assert first.status_code == 401 and first.has_body
        assert (b"content-type", b"text/plain") in first.headers
        assert all(isinstance(e, (RejectData, wev.RejectData)) for e in got[1:])
        assert b"".join(e.data for e in got[1:] if isinstance(e, (RejectData, wev.RejectData))) == body
        assert isinstance(last, (RejectData, wev.RejectData)) and last.body_finished
        assert reader.state.name == "CLOSED"


def test_client_rejection_body_until_eof() -> None:
    c = client()
    c.send(Request(host="h", target="/"))
    c.receive_data(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\npartial")
    evs = drain(c)
    assert isinstance(evs[0], RejectConnection) and evs[0].status_code == 503
    assert evs[1] == RejectData(data=b"partial", body_finished=False)
    assert c.state is ConnectionState.REJECTING
    c.receive_data(b" body")
    assert drain(c) == [RejectData(data=b" body", body_finished=False)]
    c.receive_data(None)
    assert drain(c) == [RejectData(data=b"", body_finished=True)]
    assert state(c) is ConnectionState.CLOSED


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: h\r\n\r\n", 405),
        (KEY_REQUEST.replace(b"13", b"8") + b"\r\n", 426),
        (KEY_REQUEST.replace(b"Upgrade: websocket\r\n", b"") + b"\r\n", 400),
        (KEY_REQUEST.replace(b"Connection: Upgrade\r\n", b"") + b"\r\n", 400),
        (KEY_REQUEST.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short") + b"\r\n", 400),
        (KEY_REQUEST.replace(b"Host: example.com:8080\r\n", b"") + b"\r\n", 400),
        (b"\x00\x01garbage\r\n\r\n", 400),
    ],
)
def test_invalid_requests_raise_remote_protocol_error(request_bytes: bytes, status: int) -> None:
    s = server()
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(request_bytes)
    hint = info.value.event_hint
    assert isinstance(hint, RejectConnection) and hint.status_code == status
    if status == 426:
        assert (b"Sec-WebSocket-Version", b"13") in hint.headers
    assert s.state is ConnectionState.CONNECTING
    # Either send the hint (wsproto's way) ...
    out = s.send(hint)
    assert out.startswith(b"HTTP/1.1 %d " % status)
    assert state(s) is ConnectionState.CLOSED and s.should_close_transport
    # ... or let the connection write its standard response.
    s2 = server()
    with pytest.raises(RemoteProtocolError):
        s2.receive_data(request_bytes)
    std = s2.data_to_send()
    assert std.startswith(b"HTTP/1.1 %d " % status)
    assert s2.should_close_transport


def test_handshake_too_large_is_431() -> None:
    s = WSConnection(ConnectionType.SERVER, max_handshake_size=256)
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(KEY_REQUEST + b"X-Big: " + b"a" * 300 + b"\r\n\r\n")
    assert isinstance(info.value.event_hint, RejectConnection)
    assert info.value.event_hint.status_code == 431


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: wrong\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
        b"not http at all\r\n\r\n",
    ],
)
def test_invalid_responses_raise_remote_protocol_error(response: bytes) -> None:
    c = client()
    c.send(Request(host="h", target="/"))
    with pytest.raises(RemoteProtocolError) as info:
        c.receive_data(response)
    assert isinstance(info.value.event_hint, RejectConnection)
    assert c.state is ConnectionState.CLOSED


def test_client_rejects_unoffered_subprotocol() -> None:
    c, s = client(), server()
    s.receive_data(c.send(Request(host="h", target="/", subprotocols=["a"])))
    drain(s)
    out = s.send(AcceptConnection(subprotocol="a")).replace(b"Protocol: a", b"Protocol: z")
    with pytest.raises(RemoteProtocolError):
        c.receive_data(out)


def test_initiate_upgrade_connection() -> None:
    s = server()
    s.initiate_upgrade_connection(
        [(b"Host", b"example.com"), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
         (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"Sec-WebSocket-Version", b"13")],
        "/path",
    )
    (req,) = drain(s)
    assert isinstance(req, Request) and req.target == "/path"
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in s.send(AcceptConnection())
    with pytest.raises(LocalProtocolError):
        client().initiate_upgrade_connection([], "/")


def test_handshake_misuse() -> None:
    c, s = client(), server()
    with pytest.raises(LocalProtocolError):
        c.send(TextMessage(data="too early"))
    with pytest.raises(LocalProtocolError):
        s.send(AcceptConnection())  # no request yet
    with pytest.raises(LocalProtocolError):
        c.send(AcceptConnection())
    with pytest.raises(LocalProtocolError):
        s.send(Request(host="h", target="/"))
    with pytest.raises(LocalProtocolError):
        s.send(RejectData(data=b"x"))
    c.send(Request(host="h", target="/"))
    with pytest.raises(LocalProtocolError):
        c.send(Request(host="h", target="/"))
    c2, s2 = pair()
    with pytest.raises(LocalProtocolError):
        s2.send(AcceptConnection())
    with pytest.raises(LocalProtocolError):
        s2.send(RejectConnection())


def test_eof_during_handshake_ends_quietly() -> None:
    s = server()
    s.receive_data(KEY_REQUEST[:20])
    s.receive_data(None)
    assert drain(s) == []
    assert s.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        s.receive_data(b"more")


@pytest.mark.parametrize("step", [1, 4, 1000])
def test_client_decodes_chunked_rejection_body(step: int) -> None:
    c = client()
    c.send(Request(host="h", target="/"))
    wire = (
        b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: y\r\n\r\n"
    )
    got = []
    for i in range(0, len(wire), step):
        c.receive_data(wire[i : i + step])
        got += drain(c)
    assert isinstance(got[0], RejectConnection) and got[0].status_code == 403
    assert b"".join(e.data for e in got[1:] if isinstance(e, RejectData)) == b"hello, chunked!"
    assert got[-1] == RejectData(data=b"", body_finished=True)
    assert sum(1 for e in got if isinstance(e, RejectData) and e.body_finished) == 1
    assert state(c) is ConnectionState.CLOSED


def test_bad_request_answered_with_streamed_refusal() -> None:
    """After an invalid request, the application's own refusal (here with a streamed body)
    replaces the standard response the connection had queued."""
    s = server()
    with pytest.raises(RemoteProtocolError):
        s.receive_data(KEY_REQUEST.replace(b"13", b"8") + b"\r\n")
    assert s.state is ConnectionState.CONNECTING and not s.should_close_transport
    head = s.send(RejectConnection(status_code=426, has_body=True,
                                   headers=[(b"Sec-WebSocket-Version", b"13")]))
    assert head.startswith(b"HTTP/1.1 426 ") and b"Sec-WebSocket-Version: 13\r\n" in head
    assert state(s) is ConnectionState.REJECTING
    assert s.send(RejectData(data=b"use version 13\n", body_finished=True)) == (
        b"f\r\nuse version 13\n\r\n0\r\n\r\n"
    )
    assert state(s) is ConnectionState.CLOSED and s.should_close_transport
    assert s.data_to_send() == b""  # the standard response is not sent as well


def test_client_closes_after_chunked_rejection() -> None:
    c = client()
    c.send(Request(host="h", target="/"))
    c.receive_data(b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n")
    drain(c)
    assert c.state is ConnectionState.REJECTING and not c.should_close_transport
    c.receive_data(b"0\r\n\r\n")
    assert drain(c) == [RejectData(data=b"", body_finished=True)]
    # As after a body framed by Content-Length: the refusal is complete, close the transport.
    assert state(c) is ConnectionState.CLOSED and c.should_close_transport
