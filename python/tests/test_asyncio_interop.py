"""wsmachine.asyncio against websockets' asyncio implementation (pinned in
scripts/setup/requirements-interop.txt): our server with their client and our client with
their server, with and without permessage-deflate, plus close codes and refusals."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Optional

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection as WsServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosedError as WsClosedError
from websockets.exceptions import InvalidStatus as WsInvalidStatus
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from wsmachine.asyncio import (
    ConnectionClosedError,
    InvalidStatus,
    Request,
    Response,
    ServerConnection,
    connect,
    serve,
)

MESSAGES: list[Any] = ["hello", "wörld 😀", b"\x00\x01", "", b"", "x" * 70000, os.urandom(300000)]


def run(coro: Any, timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def echo(ws: ServerConnection) -> None:
    async for m in ws:
        await ws.send(m)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_our_server_their_client(compression: Optional[str]) -> None:
    seen: list[Request] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(ws.request)
        await echo(ws)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, subprotocols=["p1"]) as server:
            port = server.sockets[0].getsockname()[1]
            async with ws_connect(
                f"ws://127.0.0.1:{port}/path?q=1", compression=compression, subprotocols=["p1"]  # type: ignore[list-item]
            ) as ws:
                assert ws.subprotocol == "p1"
                assert ws.response is not None
                offered = "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
                assert offered == (compression == "deflate")
                for m in MESSAGES:
                    await ws.send(m)
                    assert await ws.recv() == m
                await ws.close(4000, "bye")
            assert ws.close_code == 4000

    run(main())
    assert seen[0].path == "/path" and seen[0].query == {"q": ["1"]}


@pytest.mark.parametrize("compression", ["deflate", None])
def test_their_server_our_client(compression: Optional[str]) -> None:
    async def handler(ws: WsServerConnection) -> None:
        async for m in ws:
            await ws.send(m)

    async def main() -> None:
        async with ws_serve(handler, "127.0.0.1", 0, compression=compression, max_size=2**21) as server:
            port = list(server.sockets)[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/", compression=compression) as ws:
                for m in MESSAGES:
                    await ws.send(m)
                    assert await ws.recv() == m
                waiter = await ws.ping()
                assert await asyncio.wait_for(waiter, 5) >= 0
            assert ws.close_code == 1000

    run(main())


def test_limits_and_refusals_across() -> None:
    async def main() -> None:
        # Our server's max_size against their client: 1009.
        async with serve(echo, "127.0.0.1", 0, max_size=100) as server:
            port = server.sockets[0].getsockname()[1]
            async with ws_connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("x" * 101)
                with pytest.raises(WsClosedError) as e:
                    await ws.recv()
                assert e.value.rcvd is not None and e.value.rcvd.code == 1009

        # Our process_request refusal, seen by their client.
        def refuse(ws: ServerConnection, request: Request) -> Optional[Response]:
            return ws.respond(401, "who are you?\n")

        async with serve(echo, "127.0.0.1", 0, process_request=refuse) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(WsInvalidStatus) as e2:
                await ws_connect(f"ws://127.0.0.1:{port}/")
            assert e2.value.response.status_code == 401
            assert e2.value.response.body == b"who are you?\n"

        # Their refusal, seen by our client.
        def ws_refuse(conn: Any, request: WsRequest) -> WsResponse:
            r: WsResponse = conn.respond(418, "teapot\n")
            return r

        async def noop(ws: WsServerConnection) -> None:
            pass

        async with ws_serve(noop, "127.0.0.1", 0, process_request=ws_refuse) as ws_server:
            port = list(ws_server.sockets)[0].getsockname()[1]
            with pytest.raises(InvalidStatus) as e3:
                await connect(f"ws://127.0.0.1:{port}/")
            assert e3.value.response.status_code == 418
            assert e3.value.response.body == b"teapot\n"

        # Their server closing with a code, seen by our client.
        async def closer(ws: WsServerConnection) -> None:
            await ws.close(4321, "go away")

        async with ws_serve(closer, "127.0.0.1", 0) as ws_server:
            port = list(ws_server.sockets)[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/") as c:
                with pytest.raises(ConnectionClosedError) as e4:
                    await c.recv()
                assert e4.value.code == 4321 and e4.value.reason == "go away"

    run(main())
