"""wsmachine.asyncio: serve and connect against each other, on asyncio's loop and on uvloop.

Echo (text, binary, large, fragmented), the handshake's request and response, limits and
their close codes, the auth timeout, process_request refusals, backpressure both ways,
keepalive and dead peers, TLS, pings, and the close handshake's outcomes.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine, Optional

import pytest
from conftest import frame

from wsmachine import (
    AcceptConnection,
    CloseConnection,
    ConnectionState,
    ConnectionType,
    Pong,
    TextMessage,
    WSConnection,
)
from wsmachine import Request as WsRequest
from wsmachine.asyncio import (
    ClientConnection,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
    Request,
    Response,
    Server,
    ServerConnection,
    connect,
    serve,
)

try:
    import uvloop
except ImportError:  # pragma: no cover - pinned in python/requirements-dev.txt
    uvloop = None  # type: ignore[assignment]

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop"))]


def run(coro: Coroutine[Any, Any, Any], loop: str = "asyncio", timeout: float = 30) -> Any:
    """Runs ``coro`` on a new loop of the given kind, with a time limit."""
    if loop == "uvloop":
        lp = uvloop.new_event_loop()
        try:
            return lp.run_until_complete(asyncio.wait_for(coro, timeout))
        finally:
            lp.close()
    return asyncio.run(asyncio.wait_for(coro, timeout))


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


MESSAGES: list[Any] = ["hello", "wörld 😀", b"\x00\x01binary", "", b"", "x" * 70000, os.urandom(1 << 20)]


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo(loop: str, compression: Optional[str]) -> None:
    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, compression=compression, max_size=2 << 20) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, compression=compression, max_size=2 << 20) as ws:
                for m in MESSAGES:
                    await ws.send(m)
                    assert await ws.recv() == m
                # A fragmented message (an iterable of fragments) arrives whole.
                await ws.send(["frag", "ment", "ed"])
                assert await ws.recv() == "fragmented"
                await ws.send([b"a", b"b"])
                assert await ws.recv() == b"ab"
                # Any bytes-like object is sent as binary.
                await ws.send(bytearray(b"ba"))
                assert await ws.recv() == b"ba"
                await ws.send(memoryview(b"0123456789")[2:5])
                assert await ws.recv() == b"234"
                with pytest.raises(TypeError):
                    await ws.send(5)  # type: ignore[arg-type]
                # decode= converts.
                await ws.send(b"caf\xc3\xa9")
                assert await ws.recv(decode=True) == "café"
                await ws.send("café")
                assert await ws.recv(decode=False) == b"caf\xc3\xa9"
            assert ws.close_code == 1000
            assert ws.close_reason == ""

    run(main(), loop)


def test_await_connect_and_many_messages() -> None:
    async def main() -> None:
        server = await serve(echo, "127.0.0.1", 0)
        async with server:
            ws = await connect(f"ws://127.0.0.1:{port_of(server)}/")
            n = 2000
            for i in range(n):
                await ws.send(str(i))
            got = [await ws.recv() for _ in range(n)]
            assert got == [str(i) for i in range(n)]
            await ws.close(4000, "done")
            assert ws.close_code == 4000
            assert ws.close_reason == "done"
            with pytest.raises(ConnectionClosedError) as e:
                await ws.recv()
            assert e.value.code == 4000 and e.value.sent is not None and e.value.rcvd is not None
            with pytest.raises(ConnectionClosed):
                await ws.send("late")

    run(main())


def test_request_fields_and_subprotocol() -> None:
    seen: list[Request] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(ws.request)
        await ws.send(ws.subprotocol or "-")
        await ws.recv()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, subprotocols=["chat.v2", "chat.v1"]) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/room/7?token=abc&tag=a&tag=b&empty="
            headers = [("Cookie", "session=s3cr3t; theme=dark"), ("X-Trace", "42")]
            async with connect(uri, subprotocols=["chat.v1", "chat.v2"], additional_headers=headers) as ws:
                assert await ws.recv() == "chat.v2"
                assert ws.subprotocol == "chat.v2"
                assert ws.response is not None and ws.response.status_code == 101
                assert ws.response.headers["server"].startswith("wsmachine/")
                assert ws.request is not None and ws.request.path == "/room/7"

    run(main())
    (req,) = seen
    assert req.path == "/room/7"
    assert req.query == {"token": ["abc"], "tag": ["a", "b"], "empty": [""]}
    assert req.headers["x-trace"] == "42" and req.headers["X-TRACE"] == "42"
    assert req.headers.get_all("cookie") == ["session=s3cr3t; theme=dark"]
    assert req.cookies == {"session": "s3cr3t", "theme": "dark"}
    assert req.host is not None and req.host.startswith("127.0.0.1:")
    assert req.subprotocols == ["chat.v1", "chat.v2"]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-hook", "async-hook"])
def test_process_request_rejects(asynchronous: bool) -> None:
    def decide(ws: ServerConnection, request: Request) -> Optional[Response]:
        if request.query.get("token") != ["good"]:
            return Response(403, {"X-Why": "token"}, b"forbidden: bad token\n")
        return None

    async def decide_async(ws: ServerConnection, request: Request) -> Optional[Response]:
        await asyncio.sleep(0)
        return decide(ws, request)

    hook: Any = decide_async if asynchronous else decide

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, process_request=hook) as server:
            base = f"ws://127.0.0.1:{port_of(server)}/"
            with pytest.raises(InvalidStatus) as e:
                await connect(base + "?token=bad")
            assert e.value.response.status_code == 403
            assert e.value.response.body == b"forbidden: bad token\n"
            assert e.value.response.headers["x-why"] == "token"
            async with connect(base + "?token=good") as ws:
                await ws.send("in")
                assert await ws.recv() == "in"
            assert not server.connections

    run(main())


def test_process_request_failure_is_500() -> None:
    def broken(ws: ServerConnection, request: Request) -> Optional[Response]:
        raise RuntimeError("boom")

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, process_request=broken) as server:
            with pytest.raises(InvalidStatus) as e:
                await connect(f"ws://127.0.0.1:{port_of(server)}/")
            assert e.value.response.status_code == 500

    run(main())


def test_max_size_closes_with_1009() -> None:
    codes: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosedError as e:
            codes.append(e.code)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, max_size=1000) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.send(b"x" * 1001)
                with pytest.raises(ConnectionClosedError) as e:
                    await ws.recv()
                assert e.value.code == 1009
                assert e.value.rcvd is not None and e.value.rcvd.code == 1009
            # The client's own limit works the same way.
            async def big(ws: ServerConnection) -> None:
                await ws.send("y" * 5000)
                await ws.wait_closed()

            async with serve(big, "127.0.0.1", 0) as s2:
                async with connect(f"ws://127.0.0.1:{port_of(s2)}/", max_size=4096) as ws2:
                    with pytest.raises(ConnectionClosedError) as e2:
                        await ws2.recv()
                    assert e2.value.code == 1009 and ws2.close_code == 1009

    run(main())
    assert codes == [1009]


def test_auth_timeout_closes_with_1008() -> None:
    async def handler(ws: ServerConnection) -> None:
        token = await ws.recv()
        if token == "secret":
            ws.set_authenticated()
            assert ws.authenticated
        await ws.send("ok" if ws.authenticated else "no")
        await ws.recv()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, auth_timeout=0.3) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            # Never authenticates: closed with 1008 after the timeout.
            async with connect(uri) as ws:
                t0 = asyncio.get_running_loop().time()
                with pytest.raises(ConnectionClosedError) as e:
                    await ws.recv()
                assert e.value.code == 1008
                assert 0.2 < asyncio.get_running_loop().time() - t0 < 5
            # Authenticates in time: stays open past the timeout.
            async with connect(uri) as ws:
                await ws.send("secret")
                assert await ws.recv() == "ok"
                await asyncio.sleep(0.6)
                await ws.send("still here")
                assert ws.close_code is None

    run(main())


@pytest.mark.parametrize("loop", LOOPS)
def test_send_waits_when_peer_stops_reading(loop: str) -> None:
    """A client that stops reading: the server's send blocks after the socket buffers and
    write_limit fill, and resumes when the client reads again."""
    progress: list[int] = []
    chunk = b"z" * (64 << 10)

    async def handler(ws: ServerConnection) -> None:
        for i in range(2000):  # 125 MiB if nothing blocked
            await ws.send(chunk)
            progress.append(i)
        await ws.send("end")
        await ws.recv()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, write_limit=1 << 16, compression=None) as server:
            async with connect(
                f"ws://127.0.0.1:{port_of(server)}/", max_queue=4, compression=None, ping_interval=None
            ) as ws:
                assert ws.transport is not None
                ws.transport.pause_reading()
                await asyncio.sleep(0.5)
                stalled = len(progress)
                await asyncio.sleep(0.3)
                # The sender is stuck: nothing more went out, and far less than everything.
                assert len(progress) == stalled < 1000
                ws.transport.resume_reading()
                count = 0
                while True:
                    m = await ws.recv()
                    if m == "end":
                        break
                    assert m == chunk
                    count += 1
                assert count == 2000
                await ws.send("bye")

    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_server_stops_reading_when_handler_does_not_recv(loop: str) -> None:
    """A handler that stops calling recv: the bounded queue pauses the transport's reading,
    so the client's send blocks, and memory stays bounded."""
    async def main() -> None:
        release = asyncio.Event()
        conns: list[ServerConnection] = []

        async def handler(ws: ServerConnection) -> None:
            conns.append(ws)
            await release.wait()
            n = 0
            async for m in ws:
                if m == "end":
                    break
                n += 1
            await ws.send(str(n))

        async with serve(handler, "127.0.0.1", 0, max_queue=8, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", compression=None, write_limit=1 << 16) as ws:
                chunk = b"q" * (32 << 10)
                sent = 0

                async def sender() -> None:
                    nonlocal sent
                    for _ in range(1000):  # 32 MiB if nothing blocked
                        await ws.send(chunk)
                        sent += 1

                task = asyncio.ensure_future(sender())
                await asyncio.sleep(0.8)
                assert not task.done()
                (conn,) = conns
                assert conn.transport is not None and not conn.transport.is_reading()
                assert 8 <= len(conn._queue) <= 8 + 64  # bounded: max_queue plus one read
                assert sent < 1000
                release.set()
                await task
                await ws.send("end")
                assert await ws.recv() == "1000"

    run(main(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_keepalive_closes_dead_peer(loop: str) -> None:
    """The server pings after ping_interval of silence; a client that stops answering (it
    stops reading) is closed after ping_timeout, with 1006."""
    closed: list[ConnectionClosed] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as e:
            closed.append(e)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.2) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            # A live peer (its engine answers pings) stays connected well past the timeout.
            async with connect(uri, ping_interval=None) as alive:
                await asyncio.sleep(0.8)
                assert alive.close_code is None
                assert not closed
            closed.clear()
            ws = await connect(uri, ping_interval=None)
            assert ws.transport is not None
            ws.transport.pause_reading()
            t0 = asyncio.get_running_loop().time()
            while not closed:
                await asyncio.sleep(0.05)
                assert asyncio.get_running_loop().time() - t0 < 5
            assert isinstance(closed[0], ConnectionClosedError)
            assert closed[0].code == 1006
            ws.transport.resume_reading()
            await ws.wait_closed()
            assert ws.close_code == 1006

    run(main(), loop)


def test_client_keepalive_closes_dead_server() -> None:
    async def main() -> None:
        conns: list[ServerConnection] = []

        async def handler(ws: ServerConnection) -> None:
            conns.append(ws)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", ping_interval=0.1, ping_timeout=0.2) as ws:
                while not conns:
                    await asyncio.sleep(0.01)
                transport = conns[0].transport
                assert transport is not None
                transport.pause_reading()  # the server stops answering pings
                with pytest.raises(ConnectionClosedError) as e:
                    await ws.recv()
                assert e.value.code == 1006
                transport.resume_reading()  # so that the server sees the abort
                await conns[0].wait_closed()

    run(main())


@pytest.mark.parametrize("loop", LOOPS)
def test_tls(loop: str, certs: tuple[Path, Path]) -> None:
    cert, key = certs
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, ssl=server_ctx) as server:
            async with connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=client_ctx) as ws:
                for m in MESSAGES[:6]:
                    await ws.send(m)
                    assert await ws.recv() == m
            assert ws.close_code == 1000
            # An untrusted certificate fails the TLS handshake.
            with pytest.raises(ssl.SSLError):
                await connect(f"wss://127.0.0.1:{port_of(server)}/", ssl=ssl.create_default_context())

    run(main(), loop)


def test_close_reads_past_unread_messages() -> None:
    """A handler that closes without reading: the peer's close frame behind many unread
    messages (more than max_queue) is still seen, so close() returns without its timeout."""
    took: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        await asyncio.sleep(0.3)  # the client sends meanwhile; reading pauses at max_queue
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await ws.close(1000, "enough")
        took.append(loop.time() - t0)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, max_queue=4, close_timeout=5) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                for i in range(200):
                    await ws.send("m" * 1000)
                with pytest.raises(ConnectionClosedOK) as e:
                    await ws.recv()
                assert e.value.code == 1000 and e.value.reason == "enough"

    run(main())
    assert took and took[0] < 2


def test_ping_waiter_reports_latency() -> None:
    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                waiter = await ws.ping()
                latency = await asyncio.wait_for(waiter, 5)
                assert 0 <= latency < 5 and ws.latency == latency
                w1 = await ws.ping(b"one")
                w2 = await ws.ping("two")
                assert await w2 >= 0 and w1.done()
                with pytest.raises(ConcurrencyError):
                    w3 = await ws.ping(b"same")
                    w4 = await ws.ping(b"same")
                    del w3, w4
                await ws.pong(b"unsolicited")

    run(main())


def test_close_outcomes() -> None:
    async def handler(ws: ServerConnection) -> None:
        what = await ws.recv()
        if what == "close":
            await ws.close(4001, "server says bye")
        elif what == "going":
            await ws.close(1001)
        elif what == "raise":
            raise RuntimeError("handler bug")
        # "return": the handler returns, which closes with 1000.

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            for what, code, ok in [
                ("close", 4001, False),
                ("going", 1001, True),
                ("raise", 1011, False),
                ("return", 1000, True),
            ]:
                ws = await connect(uri)
                await ws.send(what)
                expected = ConnectionClosedOK if ok else ConnectionClosedError
                with pytest.raises(expected) as e:
                    await ws.recv()
                assert e.value.code == code, what
                await ws.wait_closed()
                assert ws.close_code == code
            # async for ends quietly on a normal close.
            ws = await connect(uri)
            await ws.send("return")
            assert [m async for m in ws] == []

    run(main(), timeout=60)


def test_concurrent_recv_is_an_error() -> None:
    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                first = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0.01)
                with pytest.raises(ConcurrencyError):
                    await ws.recv()
                await ws.send("x")
                assert await first == "x"
                # A recv cancelled by a timeout loses no message.
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.05)
                await ws.send("y")
                assert await ws.recv() == "y"

    run(main())


def test_server_close_sends_1001() -> None:
    async def main() -> None:
        server = await serve(echo, "127.0.0.1", 0)
        ws = await connect(f"ws://127.0.0.1:{port_of(server)}/")
        await ws.send("x")
        assert await ws.recv() == "x"
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionClosedOK) as e:
            await ws.recv()
        assert e.value.code == 1001
        assert not server.connections

    run(main())


def test_connect_errors() -> None:
    with pytest.raises(InvalidURI):
        connect("http://example.com/")
    with pytest.raises(ValueError):
        connect("ws://example.com/", ssl=ssl.create_default_context())

    async def main() -> None:
        # Nothing listening.
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        with pytest.raises(OSError):
            await connect(f"ws://127.0.0.1:{port}/")
        # A server that never answers the upgrade: open_timeout.
        silent = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        async with silent:
            with pytest.raises(asyncio.TimeoutError):
                await connect(f"ws://127.0.0.1:{silent.sockets[0].getsockname()[1]}/", open_timeout=0.2)

    run(main())


def test_invalid_upgrade_gets_http_error() -> None:
    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.read(1 << 16)
            assert head.startswith(b"HTTP/1.1 4")
            writer.close()

    run(main())


def test_reconnecting_iterator() -> None:
    async def main() -> None:
        count = 0
        async with serve(echo, "127.0.0.1", 0) as server:
            async for ws in connect(f"ws://127.0.0.1:{port_of(server)}/"):
                await ws.send(str(count))
                assert await ws.recv() == str(count)
                count += 1
                if count == 3:
                    break
        assert count == 3

    run(main())


async def raw_session(port: int, frames: bytes) -> list[Any]:
    """Opens a connection with the sans-IO client, writes ``frames`` in one write right
    after the handshake, and returns what the server sent until it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ws = WSConnection(ConnectionType.CLIENT)
    writer.write(ws.send(WsRequest(host="localhost", target="/")))
    events: list[Any] = []
    opened = False
    while True:
        data = await reader.read(1 << 16)
        ws.receive_data(data or None)
        for ev in ws.events():
            if isinstance(ev, AcceptConnection) and not opened:
                opened = True
                writer.write(frames)
            elif isinstance(ev, (TextMessage, Pong, CloseConnection)):
                events.append(ev)
                if isinstance(ev, CloseConnection) and ws.state is ConnectionState.REMOTE_CLOSING:
                    writer.write(ws.send(ev.response()))
        if not data:
            break
    writer.close()
    return events


def test_message_before_a_violation_is_answered_first() -> None:
    """A message and a bad frame in one read: the handler echoes the message before the
    bad frame fails the connection (Autobahn 3.2 and friends); ten pings in one read get ten
    pongs (Autobahn 2.10)."""

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, compression=None) as server:
            port = port_of(server)
            got = await raw_session(port, frame(0x1, b"Hello") + frame(0x1, b"bad", rsv=1) + frame(0x9))
            assert isinstance(got[0], TextMessage) and got[0].data == "Hello"
            assert isinstance(got[1], CloseConnection) and got[1].code == 1002
            pings = b"".join(frame(0x9, b"p%d" % i) for i in range(10)) + frame(0x8, b"\x03\xe8")
            got = await raw_session(port, pings)
            assert [e.payload for e in got if isinstance(e, Pong)] == [b"p%d" % i for i in range(10)]
            assert isinstance(got[-1], CloseConnection) and got[-1].code == 1000

    run(main())


Handler = Callable[[ServerConnection], Awaitable[None]]
_unused: Optional[ClientConnection] = None
