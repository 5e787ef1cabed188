"""``connect``: an asyncio WebSocket client on the wsmachine engine."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from typing import Any, AsyncIterator, Generator, Optional, Sequence, Union, cast
from urllib.parse import urlsplit

from .._types import ConnectionState, ConnectionType, RemoteProtocolError
from .._wsmachine import (
    AcceptConnection,
    Backoff,
    Event,
    RejectConnection,
    RejectData,
    Request as RequestEvent,
    WSConnection,
    __version__,
)
from ..wsproto.extensions import PerMessageDeflate
from .connection import BufferedReads, Connection, buffered_reads, engine_clock, engine_options
from .exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from .http import Headers, HeadersLike, Request, Response, _pairs

__all__ = ["ClientConnection", "connect"]


class ClientConnection(Connection):
    """A client's connection, returned by :func:`connect`. ``response`` is the server's
    101 response (its headers), ``subprotocol`` the agreed subprotocol."""

    def __init__(self, ws: WSConnection, max_queue: Optional[int], write_limit: int, close_timeout: Optional[float]) -> None:
        super().__init__(ws, max_queue=max_queue, write_limit=write_limit, close_timeout=close_timeout)
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._reject_status = 0
        self._reject_headers: list[tuple[bytes, bytes]] = []
        self._reject_body = bytearray()

    def _handshake_received(self, data: Union[bytes, memoryview]) -> None:
        try:
            self._process(data, self._limit)
            if self._ws.state is ConnectionState.REJECTING:
                self._process(b"", None)  # the refusal's body
        except RemoteProtocolError as e:
            self._fail_handshake(InvalidHandshake(f"invalid handshake response: {e}"))
            if self._transport is not None:
                self._transport.abort()
            return

    def _fail_handshake(self, exc: Exception) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(exc)
            self._handshake.exception()  # retrieved: the connect call may be gone

    def _on_handshake_event(self, event: Event) -> None:
        cls = type(event)
        if cls is AcceptConnection:
            a = cast(AcceptConnection, event)
            self.subprotocol = a.subprotocol
            self.response = Response(101, a.extra_headers)
            if not self._handshake.done():
                self._handshake.set_result(None)
        elif cls is RejectConnection:
            r = cast(RejectConnection, event)
            self._reject_status = r.status_code
            self._reject_headers = r.headers
            if not r.has_body:
                self._rejected()
        elif cls is RejectData:
            d = cast(RejectData, event)
            self._reject_body += d.data
            if d.body_finished:
                self._rejected()

    def _rejected(self) -> None:
        self.response = Response(self._reject_status, self._reject_headers, bytes(self._reject_body))
        self._fail_handshake(InvalidStatus(self.response))

    def _connection_ended(self) -> None:
        if self._reject_status:
            self._rejected()
        self._fail_handshake(InvalidHandshake("connection closed during the opening handshake"))


class _BufferedClientConnection(BufferedReads, ClientConnection):
    """A :class:`ClientConnection` on asyncio's own loops (reads into a shared buffer)."""


class connect:
    """Opens a client connection to a ws:// or wss:// URI.

    Use ``ws = await connect(uri)`` (then ``await ws.close()``), ``async with
    connect(uri) as ws:``, or ``async for ws in connect(uri):`` which connects again (with
    exponential backoff) each time the loop body moves on, e.g. after catching
    :class:`ConnectionClosed`. Raises :class:`InvalidURI`, :class:`InvalidStatus` (the server
    refused: ``exc.response`` has status, headers and body), :class:`InvalidHandshake`,
    ``OSError`` and ``TimeoutError``.

    Options: ``additional_headers``, ``subprotocols`` (offered, in order of preference),
    ``compression="deflate"`` (offer permessage-deflate; ``None``: do not), ``ssl`` (an
    ``ssl.SSLContext``; wss:// defaults to ``ssl.create_default_context()``),
    ``server_hostname``, ``origin``, ``user_agent_header``, and the timeouts and limits of
    :func:`serve` with the same defaults (``open_timeout=10``, ``ping_interval=20``,
    ``ping_timeout=20``, ``close_timeout=10``, ``max_size=2**20``, ``max_fragments=None``,
    ``max_queue=16``, ``write_limit=65536``). Other keyword arguments go to
    ``loop.create_connection``.
    """

    def __init__(
        self,
        uri: str,
        *,
        additional_headers: Optional[HeadersLike] = None,
        subprotocols: Optional[Sequence[str]] = None,
        compression: Optional[str] = "deflate",
        ssl: Optional[ssl_module.SSLContext] = None,
        server_hostname: Optional[str] = None,
        origin: Optional[str] = None,
        user_agent_header: Optional[str] = f"wsmachine/{__version__}",
        open_timeout: Optional[float] = 10.0,
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        close_timeout: Optional[float] = 10.0,
        max_size: Optional[int] = 2**20,
        max_fragments: Optional[int] = None,
        max_queue: Optional[int] = 16,
        write_limit: int = 2**16,
        **kwargs: Any,
    ) -> None:
        if compression not in ("deflate", None):
            raise ValueError(f"unsupported compression: {compression!r}")
        parts = urlsplit(uri)
        if parts.scheme not in ("ws", "wss"):
            raise InvalidURI(uri, "scheme isn't ws or wss")
        if not parts.hostname:
            raise InvalidURI(uri, "hostname isn't provided")
        self._secure = parts.scheme == "wss"
        if ssl is not None and not self._secure:
            raise ValueError("ssl= given for a ws:// URI")
        try:
            port = parts.port
        except ValueError as e:
            raise InvalidURI(uri, str(e)) from None
        self._host = parts.hostname
        self._port = port or (443 if self._secure else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._netloc = parts.netloc.rsplit("@", 1)[-1]
        headers = _pairs(additional_headers)
        if origin is not None:
            headers.append(("Origin", origin))
        if user_agent_header is not None:
            headers.append(("User-Agent", user_agent_header))
        self._headers = headers
        self._subprotocols = list(subprotocols or [])
        self._compression = compression
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._open_timeout = open_timeout
        self._engine = engine_options(
            max_size=max_size,
            max_fragments=max_fragments,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            open_timeout=open_timeout,
        )
        self._max_queue = max_queue
        self._write_limit = write_limit
        self._close_timeout = close_timeout
        self._kwargs = kwargs
        self._connection: Optional[ClientConnection] = None

    async def _create(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        ws = WSConnection(ConnectionType.CLIENT, clock=engine_clock(loop), **self._engine)
        context = self._ssl
        if self._secure and context is None:
            context = ssl_module.create_default_context()
        extra: dict[str, Any] = dict(self._kwargs)
        if self._secure and self._server_hostname is not None:
            extra["server_hostname"] = self._server_hostname
        made: list[ClientConnection] = []
        cls = _BufferedClientConnection if buffered_reads(loop) else ClientConnection

        def factory() -> ClientConnection:
            c = cls(ws, self._max_queue, self._write_limit, self._close_timeout)
            made.append(c)
            return c

        async def handshake() -> ClientConnection:
            _, conn = await loop.create_connection(factory, self._host, self._port, ssl=context, **extra)
            extensions = [PerMessageDeflate()] if self._compression == "deflate" else []
            conn._write(
                ws.send(
                    RequestEvent(
                        host=self._netloc,
                        target=self._target,
                        extensions=extensions,
                        extra_headers=self._headers,
                        subprotocols=self._subprotocols,
                    )
                )
            )
            conn._after_io()
            conn.request = Request(
                self._target,
                Headers([("Host", self._netloc), *self._headers]),
                list(self._subprotocols),
            )
            # The engine parses the response as it arrives; data_received resolves this.
            await conn._handshake
            return conn

        try:
            conn = await asyncio.wait_for(handshake(), self._open_timeout)
        except BaseException:
            for c in made:
                if c._transport is not None:
                    c._transport.abort()
            raise
        self._connection = conn
        # Frames that came with the response are parsed when the application asks for them.
        conn._start()
        return conn

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._create().__await__()

    async def __aenter__(self) -> ClientConnection:
        return await self._create()

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        backoff = Backoff()
        while True:
            try:
                conn = await self._create()
            except (OSError, asyncio.TimeoutError, InvalidHandshake) as e:
                if isinstance(e, InvalidStatus) and e.response.status_code < 500:
                    raise  # refused for good
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            try:
                yield conn
            finally:
                await conn.close()
