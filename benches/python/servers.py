"""Echo servers for benches/python/bench.py and asyncio_bench.py (our own code, on each
library's public API; the default asyncio event loop, or uvloop when LOOP is `uvloop`):

    python servers.py websockets PORT [LOOP]      # websockets 17.4 asyncio server, compression off
    python servers.py websockets-deflate PORT     # the same with permessage-deflate (DEFLATE_KW)
    python servers.py picows PORT [LOOP]          # picows 2.3.1 server, frames echoed as they come
    python servers.py wsmachine-lean PORT [LOOP]  # the wsmachine wheel, a minimal asyncio.Protocol
    python servers.py wsmachine-asyncio PORT [LOOP]  # wsmachine.asyncio.serve, compression off
    python servers.py aiohttp PORT [LOOP]         # aiohttp 3.14 web.WebSocketResponse, compress off

Keepalive is off in every server (websockets and wsmachine.asyncio: ping_interval=None;
aiohttp's heartbeat and picows's auto-ping are off by default), compression too, and every
size limit admits 100 KiB messages.

(The wsmachine benchmarks also run examples/python/echo_server.py, the full example with
backpressure and timers; `wsmachine-lean` shows what the same API costs with nothing else.)
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


async def websockets_server(port: int) -> None:
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for msg in ws:
            await ws.send(msg)

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=None, ping_interval=None):
        await asyncio.Future()


def websockets_deflate(server: bool) -> Any:
    """websockets' permessage-deflate with the settings of wsmachine's defaults, for the
    compression benchmark: 15-bit windows both ways, context takeover, zlib level 6 and
    memLevel 8 (zlib's defaults; websockets' `compression="deflate"` shortcut would pick
    12-bit windows and memLevel 5 instead)."""
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )

    kw: Any = {"server_max_window_bits": 15, "client_max_window_bits": 15,
               "compress_settings": {"level": 6, "memLevel": 8}}
    return ServerPerMessageDeflateFactory(**kw) if server else ClientPerMessageDeflateFactory(**kw)


async def websockets_deflate_server(port: int) -> None:
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for msg in ws:
            await ws.send(msg)

    async with serve(handler, "127.0.0.1", port, compression=None, extensions=[websockets_deflate(True)],
                     max_size=None, ping_interval=None):
        await asyncio.Future()


async def picows_server(port: int) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

    server = await ws_create_server(lambda _req: Echo(), "127.0.0.1", port, max_frame_size=16 << 20)
    async with server:
        await server.serve_forever()


async def wsmachine_lean_server(port: int) -> None:
    from wsmachine import AcceptConnection, BytesMessage, CloseConnection, ConnectionType, Request, TextMessage, WSConnection

    loop = asyncio.get_running_loop()

    class Echo(asyncio.Protocol):
        def __init__(self) -> None:
            self.ws = WSConnection(ConnectionType.SERVER, max_frame_payload=16 << 20, max_message_size=16 << 20)
            self.parts: list = []
            self.transport: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            ws = self.ws
            ws.receive_data(data)
            write = self.transport.write
            for ev in ws.events():
                t = type(ev)
                if t is BytesMessage or t is TextMessage:
                    if not ev.message_finished:
                        self.parts.append(ev.data)
                        continue
                    if self.parts:
                        self.parts.append(ev.data)
                        msg = (b"" if t is BytesMessage else "").join(self.parts)
                        self.parts.clear()
                    else:
                        msg = ev.data
                    write(ws.send(t(data=msg)))
                elif t is Request:
                    write(ws.send(AcceptConnection()))
                elif t is CloseConnection:
                    write(ws.send(ev.response()))
                    self.transport.close()
                else:
                    out = ws.send(ev.response()) if hasattr(ev, "response") else b""
                    if out:
                        write(out)
            out = ws.data_to_send()
            if out:
                write(out)

        def connection_lost(self, exc: Any) -> None:
            pass

    server = await loop.create_server(Echo, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def wsmachine_asyncio_server(port: int) -> None:
    from wsmachine.asyncio import serve

    async def handler(ws: Any) -> None:
        async for msg in ws:
            await ws.send(msg)

    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        await asyncio.Future()


async def aiohttp_server(port: int) -> None:
    from aiohttp import WSMsgType, web

    async def handler(request: Any) -> Any:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


SERVERS = {"websockets": websockets_server, "websockets-deflate": websockets_deflate_server,
           "picows": picows_server, "wsmachine-lean": wsmachine_lean_server,
           "wsmachine-asyncio": wsmachine_asyncio_server, "aiohttp": aiohttp_server}


def run(coro: Any, loop: str) -> None:
    """asyncio.run on the default event loop, or on uvloop's."""
    if loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def main() -> None:
    impl, port = sys.argv[1], int(sys.argv[2])
    run(SERVERS[impl](port), sys.argv[3] if len(sys.argv) > 3 else "asyncio")


if __name__ == "__main__":
    main()
