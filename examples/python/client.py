"""An asyncio WebSocket client on the wsmachine wheel (wsproto's API), over asyncio streams.

    python client.py echo --url ws://127.0.0.1:9001/ [--cafile CA.pem] [--no-deflate] MESSAGE...
    python client.py autobahn --url ws://127.0.0.1:9002 --agent NAME [--no-deflate]

``echo`` sends each MESSAGE and prints the echo. ``autobahn`` drives an Autobahn|Testsuite
fuzzingserver: ``/getCaseCount``, then ``/runCase?case=n&agent=NAME`` for every case (echoing
every message unchanged), then ``/updateReports?agent=NAME``. Both offer permessage-deflate
(RFC 7692; the engine compresses with zlib-rs) unless ``--no-deflate`` is given.

wss:// URLs go through an ``ssl.SSLContext`` (the system's CAs, or --cafile). Writes await
``drain()`` (backpressure), and one ``loop.call_at(ws.poll_timeout(), ...)`` handle on the
loop's clock drives keepalive pings and the close/handshake timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from typing import Any, Optional, Union
from urllib.parse import quote, urlsplit

from wsmachine import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    ConnectionState,
    ConnectionType,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
    WSConnection,
)
from wsmachine.wsproto.extensions import PerMessageDeflate

MAX_MESSAGE = 16 << 20
# wstest splits 4 MiB into 64-byte fragments and ends with an empty final frame: 65,537 frames.
MAX_FRAGMENTS = 1 << 17


class HandshakeRejected(Exception):
    """The server refused the upgrade."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"server refused the upgrade: HTTP {status}")
        self.status = status
        self.body = body


class Client:
    """One client connection. Use :func:`connect`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ws: WSConnection) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = ws
        self.loop = asyncio.get_running_loop()
        self.timer: Optional[asyncio.TimerHandle] = None
        self.parts: list[Union[str, bytes]] = []
        self.close_code: Optional[int] = None
        # The extensions the server accepted (permessage-deflate, if agreed).
        self.extensions: list[Any] = []

    async def write(self, data: bytes) -> None:
        data += self.ws.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
            await self.writer.drain()  # backpressure: wait while the buffer is full
        self.after_io()

    def after_io(self) -> None:
        if self.ws.should_close_transport and not self.writer.is_closing():
            self.writer.close()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = self.ws.poll_timeout()
        if deadline is not None and not self.writer.is_closing():
            self.timer = self.loop.call_at(deadline, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        self.ws.handle_timeout(self.loop.time())
        out = self.ws.data_to_send()
        if out and not self.writer.is_closing():
            self.writer.write(out)  # a ping or close frame: tiny, no need to await drain
        if self.ws.should_close_transport and not self.writer.is_closing():
            # The peer is dead or the close handshake timed out; the reader sees EOF.
            self.writer.close()
            self.reader.feed_eof()
        self.after_io()

    async def next_event(self) -> Optional[Event]:
        """The next event, reading as needed; ``None`` once the connection has ended. Only
        one event is taken from the connection, so later ones stay unparsed (wsproto's lazy
        ``events()``)."""
        while True:
            for event in self.ws.events():
                return event
            if self.ws.state is ConnectionState.CLOSED and (
                self.ws.should_close_transport or self.reader.at_eof()
            ):
                return None
            try:
                data = await self.reader.read(1 << 16)
            except (ConnectionError, OSError):
                data = b""
            if self.ws.state is ConnectionState.CLOSED and not data:
                return None
            self.ws.receive_data(data or None)

    async def send(self, event: Event) -> None:
        await self.write(self.ws.send(event))

    async def recv(self) -> Union[str, bytes, None]:
        """The next whole message, or ``None`` once the connection has closed (see
        ``close_code``). Pings and the closing handshake are answered on the way."""
        while True:
            event = await self.next_event()
            if event is None:
                await self.write(b"")
                return None
            if isinstance(event, TextMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    text = "".join(p for p in self.parts if isinstance(p, str))
                    self.parts.clear()
                    return text
            elif isinstance(event, BytesMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    blob = b"".join(p for p in self.parts if isinstance(p, bytes))
                    self.parts.clear()
                    return blob
            elif isinstance(event, Ping):
                if self.ws.state is ConnectionState.OPEN:
                    await self.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code = int(event.code)
                if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    await self.write(self.ws.send(event.response()))
                else:
                    await self.write(b"")

    async def send_message(self, message: Union[str, bytes]) -> None:
        if isinstance(message, str):
            await self.send(TextMessage(data=message))
        else:
            await self.send(BytesMessage(data=message))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the closing handshake and waits until the server closes the connection."""
        if self.ws.state is ConnectionState.OPEN:
            await self.send(CloseConnection(code=code, reason=reason))
        while await self.recv() is not None:
            pass
        await self.aclose()

    async def aclose(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.writer.is_closing():
            self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError, ssl.SSLError):
            pass


async def connect(
    url: str,
    *,
    ssl_context: Optional[ssl.SSLContext] = None,
    subprotocols: Optional[list[str]] = None,
    keepalive: Optional[float] = None,
    deflate: bool = True,
) -> Client:
    """Opens a connection to a ws:// or wss:// URL and completes the handshake."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    if secure and ssl_context is None:
        ssl_context = ssl.create_default_context()
    reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=ssl_context if secure else None, limit=1 << 20
    )
    loop = asyncio.get_running_loop()
    ws = WSConnection(
        ConnectionType.CLIENT,
        max_frame_payload=MAX_MESSAGE,
        max_message_size=MAX_MESSAGE,
        max_fragments=MAX_FRAGMENTS,
        keepalive_interval=keepalive,
        clock=loop.time,
    )
    client = Client(reader, writer, ws)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rsplit("@", 1)[-1]
    # A PerMessageDeflate in the request offers permessage-deflate.
    extensions = [PerMessageDeflate()] if deflate else []
    await client.send(
        Request(host=host, target=target, subprotocols=subprotocols or [], extensions=extensions)
    )
    status = 0
    body = b""
    while True:
        event = await client.next_event()
        if event is None:
            await client.aclose()
            raise ConnectionError("connection closed during the handshake")
        if isinstance(event, AcceptConnection):
            client.extensions = list(event.extensions)
            return client
        if isinstance(event, RejectConnection):
            status = event.status_code
        elif isinstance(event, RejectData):
            body += event.data
            if event.body_finished:
                await client.aclose()
                raise HandshakeRejected(status, body)


async def echo(
    url: str, messages: list[str], ssl_context: Optional[ssl.SSLContext], deflate: bool = True
) -> list[Union[str, bytes, None]]:
    client = await connect(url, ssl_context=ssl_context, deflate=deflate)
    got: list[Union[str, bytes, None]] = []
    for m in messages:
        await client.send_message(m)
        got.append(await client.recv())
    await client.close()
    return got


async def autobahn(url: str, agent: str, deflate: bool = True) -> None:
    base = url.rstrip("/")
    client = await connect(f"{base}/getCaseCount")
    count = await client.recv()
    await client.close()
    assert isinstance(count, str), count
    for case in range(1, int(count) + 1):
        try:
            c = await connect(f"{base}/runCase?case={case}&agent={quote(agent)}", deflate=deflate)
        except (ConnectionError, OSError) as e:
            print(f"case {case}: {e}", file=sys.stderr)
            continue
        try:
            while True:
                message = await c.recv()
                if message is None:
                    break
                await c.send_message(message)
        except (ConnectionError, OSError):
            pass
        finally:
            await c.aclose()
    client = await connect(f"{base}/updateReports?agent={quote(agent)}")
    await client.close()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("echo", help="send messages and print the echoes")
    e.add_argument("--url", required=True)
    e.add_argument("--cafile", help="trust this CA certificate (PEM) for wss://")
    e.add_argument("messages", nargs="*", default=["hello"])
    a = sub.add_parser("autobahn", help="drive an Autobahn fuzzingserver")
    a.add_argument("--url", required=True)
    a.add_argument("--agent", default="wsmachine-python")
    for p in (e, a):
        p.add_argument("--no-deflate", dest="deflate", action="store_false",
                       help="do not offer permessage-deflate")
    args = parser.parse_args(argv)
    if args.mode == "autobahn":
        asyncio.run(autobahn(args.url, args.agent, args.deflate))
        return 0
    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    for reply in asyncio.run(echo(args.url, args.messages, context, args.deflate)):
        print(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
