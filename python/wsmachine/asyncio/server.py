"""``serve``: an asyncio WebSocket server on the wsmachine engine."""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl as ssl_module
from typing import Any, Awaitable, Callable, Generator, Optional, Sequence, Union, cast

from .._types import ConnectionType, LocalProtocolError, RemoteProtocolError
from .._wsmachine import (
    AcceptConnection,
    Event,
    RejectConnection,
    RejectData,
    Request as RequestEvent,
    WSConnection,
    __version__,
)
from ..wsproto.extensions import PerMessageDeflate
from .connection import BufferedReads, Connection, buffered_reads, engine_clock, engine_options
from .http import Headers, HeadersLike, Request, Response, _pairs

__all__ = ["Server", "ServerConnection", "serve"]

logger = logging.getLogger("wsmachine.asyncio")

Handler = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequest = Callable[
    ["ServerConnection", Request], Union[Optional[Response], Awaitable[Optional[Response]]]
]


class ServerConnection(Connection):
    """A server's end of a connection, handed to the handler of :func:`serve`.

    ``request`` is the upgrade request (path, query, headers, cookies), ``subprotocol`` the
    agreed subprotocol. With ``auth_timeout``, the handler must call
    :meth:`set_authenticated` within that many seconds of the handshake (after checking a
    first message, say), or the connection is closed with 1008.
    """

    def __init__(self, server: Server) -> None:
        loop = asyncio.get_running_loop()
        o = server._options
        ws = WSConnection(
            ConnectionType.SERVER,
            clock=engine_clock(loop),
            auth_timeout=o["auth_timeout"],
            **o["engine"],
        )
        super().__init__(
            ws, max_queue=o["max_queue"], write_limit=o["write_limit"], close_timeout=o["close_timeout"]
        )
        self.server = server
        self._handler_task: Optional[asyncio.Task[None]] = None

    @property
    def authenticated(self) -> bool:
        """Whether the connection counts as authenticated (always, without ``auth_timeout``)."""
        return self._ws.authenticated

    def set_authenticated(self) -> None:
        """Marks the connection authenticated, stopping the ``auth_timeout`` timer."""
        self._ws.set_authenticated()

    def respond(self, status: int, text: str) -> Response:
        """A plain-text response for ``process_request`` to return."""
        return Response(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode())

    # -- handshake -------------------------------------------------------------------------

    def _handshake_received(self, data: Union[bytes, memoryview]) -> None:
        try:
            self._process(data, self._limit)
        except RemoteProtocolError as e:
            # An invalid upgrade request: answer with the engine's HTTP error and hang up.
            hint = e.event_hint
            self._write(self._ws.send(hint) if hint is not None else self._ws.data_to_send())
            if self._transport is not None:
                self._transport.close()
            return

    def _on_handshake_event(self, event: Event) -> None:
        if isinstance(event, RequestEvent):
            ev = event
            headers = Headers([("Host", ev.host), *ev.extra_headers])
            if ev.subprotocols:
                headers = Headers([*headers.raw_items(), ("Sec-WebSocket-Protocol", ", ".join(ev.subprotocols))])
            self.request = Request(ev.target, headers, list(ev.subprotocols))
            self._handler_task = self._loop.create_task(self._run())
            self.server._tasks.add(self._handler_task)
            self._handler_task.add_done_callback(self.server._tasks.discard)

    async def _run(self) -> None:
        server = self.server
        request = self.request
        assert request is not None
        response: Optional[Response] = None
        if server._process_request is not None:
            try:
                r = server._process_request(self, request)
                if inspect.isawaitable(r):
                    r = await r
                response = r
            except Exception:
                logger.error("process_request failed", exc_info=True)
                response = self.respond(500, "Failed to open a WebSocket connection.\n")
        if self._lost:
            return
        if response is not None:
            self._reject(response)
            return
        subprotocol = None
        for p in server._options["subprotocols"]:
            if p in request.subprotocols:
                subprotocol = p
                break
        extensions = [PerMessageDeflate()] if server._options["compression"] == "deflate" else []
        try:
            out = self._ws.send(
                AcceptConnection(
                    subprotocol=subprotocol, extensions=extensions, extra_headers=server._headers
                )
            )
        except LocalProtocolError:
            return  # the handshake timed out meanwhile
        self.subprotocol = subprotocol
        self._write(out)
        server.connections.add(self)
        # Frames that came with the request are parsed when the handler asks for them.
        self._start()
        try:
            await server._handler(self)
        except Exception:
            logger.error("connection handler failed", exc_info=True)
            await self.close(1011)
        else:
            await self.close()
        finally:
            server.connections.discard(self)

    def _reject(self, response: Response) -> None:
        headers = response.headers.raw_items()
        body = response.body
        if body and "content-type" not in response.headers:
            headers.append(("Content-Type", "text/plain; charset=utf-8"))
        ws = self._ws
        out = ws.send(RejectConnection(status_code=response.status_code, headers=headers, has_body=bool(body)))
        if body:
            out += ws.send(RejectData(body, body_finished=True))
        self.response = response
        self._write(out)
        if self._transport is not None:
            self._transport.close()

    def _connection_ended(self) -> None:
        self.server.connections.discard(self)


class _BufferedServerConnection(BufferedReads, ServerConnection):
    """A :class:`ServerConnection` on asyncio's own loops (reads into a shared buffer)."""


class Server:
    """A running server, returned by :func:`serve`.

    ``connections`` holds the open connections. ``close()`` stops listening and closes every
    connection with 1001 (going away); ``wait_closed()`` waits for that and for the
    handlers to return. As an async context manager (``async with serve(...) as server``)
    it does both on exit.
    """

    def __init__(
        self,
        handler: Handler,
        process_request: Optional[ProcessRequest],
        headers: list[tuple[str, str]],
        options: dict[str, Any],
    ) -> None:
        self._handler = handler
        self._process_request = process_request
        self._headers = headers
        self._options = options
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: Optional[asyncio.Server] = None
        #: The open connections.
        self.connections: set[ServerConnection] = set()

    @property
    def server(self) -> asyncio.Server:
        """The underlying ``asyncio.Server``."""
        assert self._server is not None
        return self._server

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets."""
        return tuple(self.server.sockets)

    def is_serving(self) -> bool:
        """Whether the server accepts connections."""
        return self.server.is_serving()

    def close(self, close_connections: bool = True) -> None:
        """Stops listening; with ``close_connections``, closes every connection with 1001."""
        self.server.close()
        if close_connections:
            for c in list(self.connections):
                task = asyncio.ensure_future(c.close(1001))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def wait_closed(self) -> None:
        """Waits until the server is closed and every handler has returned."""
        await self.server.wait_closed()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def serve_forever(self) -> None:
        """Accepts connections until cancelled."""
        await self.server.serve_forever()

    async def start_serving(self) -> None:
        """Starts accepting connections (``serve`` already did)."""
        await self.server.start_serving()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


class serve:
    """Starts a WebSocket server: ``handler(connection)`` runs for each connection.

    Use ``server = await serve(...)`` or ``async with serve(...) as server:``. Options:

    * ``process_request(connection, request)``: called with the upgrade :class:`Request`
      before accepting; returning a :class:`Response` refuses the upgrade with it (status,
      headers, body), ``None`` accepts. It may be a coroutine function.
    * ``subprotocols``: supported subprotocols, in order of preference (the first the client
      also offers is agreed; none when there is none in common).
    * ``compression="deflate"``: accept permessage-deflate when offered; ``None`` declines.
    * ``ssl``: an ``ssl.SSLContext`` to serve wss://.
    * ``open_timeout=10``: seconds for the opening handshake.
    * ``ping_interval=20``, ``ping_timeout=20``: a ping after ``ping_interval`` seconds
      without input; no input for ``ping_timeout`` more closes the connection (1006).
      ``ping_interval=None`` turns keepalive off.
    * ``close_timeout=10``: seconds to wait for the peer's close frame.
    * ``auth_timeout=None``: with a number, the handler must call
      ``connection.set_authenticated()`` within that many seconds, or the connection is
      closed with 1008.
    * ``max_size=2**20`` (1 MiB): a larger message closes the connection with 1009 (``None``:
      no limit); ``max_fragments=None``: the engine's limit on frames per message (65,536).
    * ``max_queue=16``: received messages waiting for ``recv``; at that many the server stops
      reading from the socket until ``recv`` takes them down to a quarter (``None``:
      unbounded).
    * ``write_limit=65536``: the transport's high-water mark; ``send`` waits while its buffer
      is above it.
    * ``server_header``: the ``Server`` response header (``None`` for none).

    Other keyword arguments go to ``loop.create_server`` (``reuse_port``, ``sock``, ...).
    """

    def __init__(
        self,
        handler: Handler,
        host: Optional[Union[str, Sequence[str]]] = None,
        port: Optional[int] = None,
        *,
        process_request: Optional[ProcessRequest] = None,
        subprotocols: Optional[Sequence[str]] = None,
        compression: Optional[str] = "deflate",
        ssl: Optional[ssl_module.SSLContext] = None,
        open_timeout: Optional[float] = 10.0,
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        close_timeout: Optional[float] = 10.0,
        auth_timeout: Optional[float] = None,
        max_size: Optional[int] = 2**20,
        max_fragments: Optional[int] = None,
        max_queue: Optional[int] = 16,
        write_limit: int = 2**16,
        server_header: Optional[str] = f"wsmachine/{__version__}",
        additional_headers: Optional[HeadersLike] = None,
        **kwargs: Any,
    ) -> None:
        if compression not in ("deflate", None):
            raise ValueError(f"unsupported compression: {compression!r}")
        headers = _pairs(additional_headers)
        if server_header is not None:
            headers.append(("Server", server_header))
        options = dict(
            engine=engine_options(
                max_size=max_size,
                max_fragments=max_fragments,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                open_timeout=open_timeout,
            ),
            auth_timeout=auth_timeout,
            subprotocols=list(subprotocols or []),
            compression=compression,
            max_queue=max_queue,
            write_limit=write_limit,
            close_timeout=close_timeout,
        )
        self._server = Server(handler, process_request, headers, options)
        self._host = host
        self._port = port
        self._ssl = ssl
        self._kwargs = kwargs

    async def _create(self) -> Server:
        loop = asyncio.get_running_loop()
        server = self._server
        cls = _BufferedServerConnection if buffered_reads(loop) else ServerConnection
        server._server = await loop.create_server(
            lambda: cls(server), self._host, self._port, ssl=self._ssl, **self._kwargs
        )
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        return await self._create()

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()
