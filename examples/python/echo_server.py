"""An asyncio WebSocket echo server on the wsmachine wheel (wsproto's API).

    python echo_server.py --host 127.0.0.1 --port 9001 [--certfile C --keyfile K]
                          [--keepalive SECONDS] [--no-deflate]

Every text and binary message is echoed back unchanged (reassembled, up to 16 MiB and
131,072 fragments: enough for the Autobahn|Testsuite fuzzingclient). With --certfile/--keyfile
it serves wss:// through an ``ssl.SSLContext``. permessage-deflate (RFC 7692) is accepted
when a client offers it (the engine compresses with zlib-rs); ``--no-deflate`` declines it.

What the example shows:
* backpressure: when the transport's write buffer passes its high-water mark asyncio calls
  ``pause_writing``, and the protocol stops reading until ``resume_writing``;
* timers on the loop's clock: the connection's clock is ``loop.time`` and one
  ``loop.call_at(ws.poll_timeout(), ...)`` handle drives keepalive pings, dead-peer detection
  and the close/handshake timeouts;
* the sans-IO loop: bytes in -> ``receive_data`` -> ``events()`` -> ``send`` -> bytes out,
  then ``data_to_send()`` for what the connection produced itself, then
  ``should_close_transport``.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
from typing import Optional, Union

from wsmachine import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    ConnectionState,
    ConnectionType,
    Ping,
    RemoteProtocolError,
    Request,
    TextMessage,
    WSConnection,
)
from wsmachine.wsproto.extensions import PerMessageDeflate

MAX_MESSAGE = 16 << 20
# wstest splits 4 MiB into 64-byte fragments and ends with an empty final frame: 65,537 frames.
MAX_FRAGMENTS = 1 << 17


class EchoProtocol(asyncio.Protocol):
    """One WebSocket connection: echoes every message back."""

    def __init__(
        self,
        keepalive: Optional[float] = None,
        keepalive_timeout: float = 10.0,
        write_buffer_high: int = 1 << 20,
        deflate: bool = True,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.deflate = deflate
        self.ws = WSConnection(
            ConnectionType.SERVER,
            max_frame_payload=MAX_MESSAGE,
            max_message_size=MAX_MESSAGE,
            max_fragments=MAX_FRAGMENTS,
            keepalive_interval=keepalive,
            keepalive_timeout=keepalive_timeout,
            clock=self.loop.time,
        )
        self.transport: Optional[asyncio.Transport] = None
        self.timer: Optional[asyncio.TimerHandle] = None
        self.parts: list[Union[str, bytes]] = []
        self.write_buffer_high = write_buffer_high
        self.pauses = 0  # how often backpressure stopped reading (for tests)

    # -- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.write_buffer_high)
        self.arm_timer()

    def data_received(self, data: bytes) -> None:
        self.feed(data)

    def eof_received(self) -> Optional[bool]:
        self.feed(None)
        return False  # close the transport

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.ws.state is not ConnectionState.CLOSED:
            self.feed(None)

    def pause_writing(self) -> None:
        # The peer reads slower than it sends: stop reading until our output drains.
        self.pauses += 1
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # -- the sans-IO loop ----------------------------------------------------------------

    def feed(self, data: Optional[bytes]) -> None:
        try:
            self.ws.receive_data(data)
        except RemoteProtocolError as e:
            # An invalid upgrade request: answer with the suggested HTTP error.
            self.flush(bytearray(self.ws.send(e.event_hint) if e.event_hint else b""))
            return
        self.process()

    def process(self) -> None:
        out = bytearray()
        for event in self.ws.events():
            if isinstance(event, Request):
                # A PerMessageDeflate accepts the client's permessage-deflate offer, if any.
                extensions = [PerMessageDeflate()] if self.deflate else []
                out += self.ws.send(AcceptConnection(extensions=extensions))
            elif isinstance(event, TextMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    text = "".join(p for p in self.parts if isinstance(p, str))
                    self.parts.clear()
                    out += self.ws.send(TextMessage(data=text))
            elif isinstance(event, BytesMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    blob = b"".join(p for p in self.parts if isinstance(p, bytes))
                    self.parts.clear()
                    out += self.ws.send(BytesMessage(data=blob))
            elif isinstance(event, Ping):
                out += self.ws.send(event.response())
            elif isinstance(event, CloseConnection):
                if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    out += self.ws.send(event.response())
        self.flush(out)

    def on_timer(self) -> None:
        self.timer = None
        self.ws.handle_timeout(self.loop.time())
        self.process()

    def flush(self, out: bytearray) -> None:
        out += self.ws.data_to_send()
        if self.transport is None or self.transport.is_closing():
            return
        if out:
            self.transport.write(bytes(out))
        if self.ws.should_close_transport:
            self.transport.close()
            return
        self.arm_timer()

    def arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = self.ws.poll_timeout()
        if deadline is not None:
            self.timer = self.loop.call_at(deadline, self.on_timer)


async def serve(
    host: str,
    port: int,
    ssl_context: Optional[ssl.SSLContext] = None,
    keepalive: Optional[float] = None,
    keepalive_timeout: float = 10.0,
    write_buffer_high: int = 1 << 20,
    deflate: bool = True,
) -> asyncio.Server:
    """Starts the echo server; ``port=0`` picks a free port."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: EchoProtocol(keepalive, keepalive_timeout, write_buffer_high, deflate),
        host,
        port,
        ssl=ssl_context,
    )


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--certfile", help="serve wss:// with this certificate chain (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    parser.add_argument("--keepalive", type=float, default=None, help="ping after this many idle seconds")
    parser.add_argument("--no-deflate", dest="deflate", action="store_false",
                        help="decline permessage-deflate")
    args = parser.parse_args(argv)
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)

    async def run() -> None:
        server = await serve(args.host, args.port, context, args.keepalive, deflate=args.deflate)
        scheme = "wss" if context else "ws"
        print(f"echo server listening on {scheme}://{args.host}:{args.port}/", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
