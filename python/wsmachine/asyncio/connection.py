"""The connection shared by servers and clients: an ``asyncio.Protocol`` driving the
sans-IO ``WSConnection``.

How it works (one connection):

* ``data_received`` feeds the bytes to the engine (``receive_messages``) and walks the
  events: whole messages go to a waiting ``recv`` (or the incoming queue), pings are
  answered by the engine (``auto_pong``), pongs resolve ``ping()`` waiters, a close frame is
  answered.
  Then the engine's own output (pongs, keepalive pings, close replies) is written, the
  transport is closed when the engine says so, and the timer is re-armed.
* Parsing stays one message ahead of the application: ``data_received`` parses up to
  the first data message and hands it to a waiting ``recv``; the input behind it is parsed
  when ``recv`` asks again (or on the next loop iteration when the application is busy).
  So a message is answered before a violation behind it fails the connection.
* Incoming backpressure: when ``max_queue`` messages wait, the transport stops reading
  (``pause_reading``) until ``recv`` has taken the queue down to a quarter of that.
* Outgoing backpressure: ``send`` writes at once and then waits while the transport's
  buffer is above ``write_limit`` (``pause_writing`` / ``resume_writing``).
* Timers: one ``loop.call_at`` handle at the engine's next deadline (``poll_timeout``, on
  the loop's clock) drives keepalive pings, dead-peer detection and the handshake, auth and
  close timeouts. It is only moved earlier, never later: a handle that fires early finds
  nothing due and is set again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
import time
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterable, Optional, Tuple, Union, cast

from .._types import ConnectionState, LocalProtocolError
from .._wsmachine import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
    WSConnection,
)
from .exceptions import (
    Close,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
)
from .http import Request, Response

__all__ = ["Connection", "Data"]

#: A message: ``str`` for text, ``bytes`` for binary.
Data = Union[str, bytes]

logger = logging.getLogger("wsmachine.asyncio")

_OPEN = ConnectionState.OPEN
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_CLOSED = ConnectionState.CLOSED
_OK_CODES = (1000, 1001, 1005)
# A byte ceiling on the message limit when max_size is None.
_NO_LIMIT = 1 << 62


def _engine_size(max_size: Optional[int]) -> int:
    return _NO_LIMIT if max_size is None else max_size


# The read buffer of asyncio's own event loops (see BufferedReads): one per thread (so per
# event loop), shared by its connections. The transport reads into it and the engine copies
# what was read at once, so no connection holds it between reads, and an idle connection
# costs no buffer.
_READ_SIZE = 256 * 1024
_local = threading.local()


def _read_buffer() -> memoryview:
    buf: Optional[memoryview] = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(bytearray(_READ_SIZE))
    return buf


class Connection(asyncio.Protocol):
    """A WebSocket connection: a server's (:class:`ServerConnection`) or a client's
    (:class:`ClientConnection`). Not made by the application: ``serve`` and ``connect``
    make them.

    Messages are ``str`` (text) or ``bytes`` (binary). ``recv()`` returns the next one and
    ``async for message in ws`` iterates over them until the connection closes normally
    (an abnormal close raises :class:`ConnectionClosedError`). ``send`` writes one and waits
    while the transport's buffer is above ``write_limit``. ``close()`` runs the closing
    handshake. Once closed, ``close_code`` and ``close_reason`` say how.
    """

    def __init__(
        self,
        ws: WSConnection,
        *,
        max_queue: Optional[int],
        write_limit: int,
        close_timeout: Optional[float],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._ws = ws
        self._rbuf = _read_buffer()
        self._transport: Optional[asyncio.Transport] = None
        self._max_queue = max_queue
        self._low_queue = 0 if max_queue is None else max_queue // 4
        self._write_limit = write_limit
        self._close_timeout = close_timeout
        self._queue: Deque[Data] = collections.deque()
        self._recv_waiter: Optional[asyncio.Future[Optional[Data]]] = None
        self._recv_busy = False
        self._reading_paused = False
        # Data messages parsed per call (0 until the application takes over, see _start),
        # and whether the engine may hold input not parsed yet.
        self._limit: Optional[int] = 0
        self._unparsed = False
        self._opened = False
        self._resume_scheduled = False
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._pings: Dict[bytes, Tuple[asyncio.Future[float], float]] = {}
        self._timer: Optional[asyncio.TimerHandle] = None
        self._lost = False
        self._closed_waiter: asyncio.Future[None] = self._loop.create_future()
        self._rcvd: Optional[Close] = None
        self._sent: Optional[Close] = None
        self._close_code: Optional[int] = None
        self._close_reason = ""
        #: The opening handshake's request (see :class:`Request`).
        self.request: Optional[Request] = None
        #: The opening handshake's response (client: as received; server: ``None`` unless
        #: a refusal was sent).
        self.response: Optional[Response] = None
        #: The agreed subprotocol, or ``None``.
        self.subprotocol: Optional[str] = None
        #: Latency of the last ``ping()`` answered, in seconds (0 before any).
        self.latency = 0.0

    # -- public API ------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The engine's ``ConnectionState`` (CONNECTING, OPEN, ..., CLOSED)."""
        return self._ws.state

    @property
    def close_code(self) -> Optional[int]:
        """How the connection ended: the peer's close code, ours when we closed or failed it,
        1006 when it was lost or the peer stopped answering pings; ``None`` while open."""
        return self._close_code

    @property
    def close_reason(self) -> Optional[str]:
        """The reason that came with ``close_code`` (``""`` when none); ``None`` while open."""
        return None if self._close_code is None else self._close_reason

    @property
    def remote_address(self) -> Any:
        """The peer's address (``transport.get_extra_info("peername")``)."""
        return None if self._transport is None else self._transport.get_extra_info("peername")

    @property
    def local_address(self) -> Any:
        """Our address (``transport.get_extra_info("sockname")``)."""
        return None if self._transport is None else self._transport.get_extra_info("sockname")

    @property
    def transport(self) -> Optional[asyncio.Transport]:
        """The asyncio transport (``None`` before the connection is made)."""
        return self._transport

    async def recv(self, decode: Optional[bool] = None) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary (``decode=True`` decodes
        binary as UTF-8, ``decode=False`` returns text encoded). Raises
        :class:`ConnectionClosedOK` or :class:`ConnectionClosedError` once the connection
        has closed and every message received before was returned, and
        :class:`ConcurrencyError` when another coroutine is already waiting in ``recv``."""
        queue = self._queue
        if not queue and self._unparsed:
            self._process(b"", 1)
        if queue:
            message = queue.popleft()
            if self._reading_paused and len(queue) <= self._low_queue:
                self._resume_reading()
        else:
            if self._recv_busy:
                raise ConcurrencyError("another coroutine is already waiting for the next message")
            if self._lost or self._close_code is not None:
                raise self._closed_error()
            waiter: asyncio.Future[Optional[Data]] = self._loop.create_future()
            self._recv_waiter = waiter
            self._recv_busy = True
            try:
                got = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                    # The message arrived as the waiter was cancelled: keep it.
                    queue.appendleft(cast(Data, waiter.result()))
                raise
            finally:
                self._recv_waiter = None
                self._recv_busy = False
            if got is None:
                raise self._closed_error()
            message = got
        if decode is None:
            return message
        if decode and isinstance(message, bytes):
            return message.decode()
        if not decode and isinstance(message, str):
            return message.encode()
        return message

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Yields messages until the connection closes; a normal close ends the iteration,
        another raises :class:`ConnectionClosedError`."""
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def send(self, message: Union[Data, bytearray, memoryview, Iterable[Data]]) -> None:
        """Sends a message: ``str`` as text, bytes-like as binary, an iterable of ``str`` or
        of bytes as one fragmented message (a frame per item). Returns once the transport's
        buffer is at or below ``write_limit``. Raises :class:`ConnectionClosed` when the
        connection is closing or closed, ``TypeError`` for other types."""
        ws = self._ws
        cls = type(message)
        m: Any = message
        try:
            if cls is str:
                data = ws.send(TextMessage(m))
            elif cls is bytes or cls is bytearray or cls is memoryview:
                data = ws.send(BytesMessage(m))
            elif isinstance(message, (str, bytes, bytearray, memoryview)):
                event = TextMessage(message) if isinstance(message, str) else BytesMessage(bytes(message))
                data = ws.send(event)
            else:
                data = self._fragments(message)
        except LocalProtocolError:
            raise self._closed_error() from None
        transport = self._transport
        if transport is None or self._lost:
            raise self._closed_error()
        transport.write(data)
        if self._writing_paused:
            await self._drain()

    def _fragments(self, items: Iterable[Data]) -> bytes:
        ws = self._ws
        out = bytearray()
        it = iter(items)
        try:
            first = next(it)
        except StopIteration:
            return b""
        text = isinstance(first, str)
        if not text and not isinstance(first, (bytes, bytearray, memoryview)):
            raise TypeError("data must be str, bytes-like or an iterable of them")
        cls = TextMessage if text else BytesMessage
        prev: Any = first
        for item in it:
            if isinstance(item, str) != text:
                raise TypeError("all fragments of a message must be str or all bytes-like")
            out += ws.send(cls(prev, message_finished=False))
            prev = item
        out += ws.send(cls(prev, message_finished=True))
        return bytes(out)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the closing handshake with ``code`` and ``reason`` (unless one is under
        way) and waits until the connection is closed: at most ``close_timeout`` for the
        peer's close frame, after which the transport is aborted. Never raises
        :class:`ConnectionClosed`."""
        ws = self._ws
        if ws.state is _OPEN and not self._lost:
            try:
                data = ws.send(CloseConnection(code, reason))
            except LocalProtocolError:
                data = b""
            else:
                self._sent = Close(code, reason)
            self._write(data)
            self._after_io()
        # Read everything from now on, so that the peer's close frame is seen behind
        # messages the application will not ask for.
        self._limit = None
        self._max_queue = None
        if self._reading_paused:
            self._resume_reading()
        if self._unparsed and not self._lost:
            self._process(b"", None)
        await self.wait_closed_within(self._close_timeout)

    async def wait_closed(self) -> None:
        """Waits until the connection is closed (the transport is gone)."""
        await asyncio.shield(self._closed_waiter)

    async def wait_closed_within(self, timeout: Optional[float]) -> None:
        """Waits until the connection is closed; after ``timeout`` seconds (twice it, when the
        engine's close timer runs too) the transport is aborted."""
        if self._closed_waiter.done():
            return
        limit = None if timeout is None else 2 * timeout + 0.1
        try:
            await asyncio.wait_for(asyncio.shield(self._closed_waiter), limit)
        except asyncio.TimeoutError:
            if self._transport is not None:
                self._transport.abort()
            await asyncio.shield(self._closed_waiter)

    async def ping(self, data: Optional[Union[str, bytes]] = None) -> asyncio.Future[float]:
        """Sends a ping and returns a future that resolves to the latency in seconds when
        the matching pong arrives (a pong also answers earlier pings). ``data`` is the
        payload (at most 125 bytes; default: 4 random bytes). Raises
        :class:`ConnectionClosed` when the connection is not open."""
        payload = os.urandom(4) if data is None else data.encode() if isinstance(data, str) else bytes(data)
        if payload in self._pings:
            raise ConcurrencyError("a ping with this payload is already waiting for its pong")
        try:
            out = self._ws.send(Ping(payload))
        except LocalProtocolError:
            raise self._closed_error() from None
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, self._loop.time())
        self._write(out)
        return waiter

    async def pong(self, data: Union[str, bytes] = b"") -> None:
        """Sends an unsolicited pong (a heartbeat that needs no answer)."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            out = self._ws.send(Pong(payload))
        except LocalProtocolError:
            raise self._closed_error() from None
        self._write(out)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=self._write_limit)
        self._after_io()

    def data_received(self, data: Union[bytes, memoryview]) -> None:
        if self._opened:
            self._process(data, self._limit, True)
        else:
            self._handshake_received(data)

    def eof_received(self) -> Optional[bool]:
        if not self._lost and self._ws.state is not _CLOSED:
            self._process(None, None)
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ws.state is not _CLOSED:
            try:
                self._process(None, None)
            except Exception:  # pragma: no cover - nothing is left to act on
                pass
        if self._close_code is None:
            code = self._ws.close_code
            self._close_code = 1006 if code is None else int(code)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._wake_drain()
        for fut, _ in self._pings.values():
            if not fut.done():
                fut.set_exception(self._closed_error())
                fut.exception()  # retrieved: an unawaited ping waiter logs nothing
        self._pings.clear()
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        self._connection_ended()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drain()

    # -- internals -------------------------------------------------------------------------

    def _connection_ended(self) -> None:
        """Hook for subclasses: the transport is gone."""

    def _on_handshake_event(self, event: Event) -> None:
        """Hook for subclasses: a handshake event (Request, AcceptConnection, ...)."""

    def _handshake_received(self, data: Union[bytes, memoryview]) -> None:
        """Hook for subclasses: input before the application took over (the handshake)."""
        self._process(data, self._limit)

    def _process(
        self, data: Union[bytes, memoryview, None] = b"", limit: Optional[int] = 1, read: bool = False
    ) -> None:
        """Feeds ``data`` to the engine (``None``: end of file; ``b""``: nothing), acts on the
        events it produced, and writes what the engine produced.

        ``read``: ``data`` came from the transport of an open connection. When it produced
        data messages only (or nothing), the engine has produced nothing to write, and no
        deadline moved earlier, so ``_after_io`` is skipped: the per-message fast path.

        At most ``limit`` data messages are parsed (``None``: all). The rest of the input
        waits in the engine until ``recv`` asks for the next message, or until the next
        loop iteration (``_resume_parsing``) when the application is busy: a message is
        handed to the application before the frames after it are judged, so that the
        application can answer it before a protocol violation behind it fails the
        connection.
        """
        ws = self._ws
        n = 0
        other = not read
        event: Any  # str, bytes or a native event class, told apart by exact type
        for event in ws.receive_messages(data, limit):
            cls = type(event)
            if cls is str or cls is bytes:
                n += 1
                waiter = self._recv_waiter
                if waiter is not None and not waiter.done():
                    self._recv_waiter = None
                    waiter.set_result(event)
                else:
                    queue = self._queue
                    queue.append(event)
                    max_queue = self._max_queue
                    if (
                        max_queue is not None
                        and len(queue) >= max_queue
                        and not self._reading_paused
                        and self._transport is not None
                    ):
                        self._reading_paused = True
                        self._transport.pause_reading()
            elif cls is Ping:
                # The engine answered it (auto_pong): write that pong before what follows.
                self._write(ws.data_to_send())
                other = True
            elif cls is Pong:
                self._on_pong(event.payload)
                other = True
            elif cls is CloseConnection:
                self._on_close(event)
                other = True
            else:
                self._on_handshake_event(event)
                other = True
        if limit is not None and n >= limit and ws.input_pending:
            self._unparsed = True
            if limit and not self._resume_scheduled:
                self._resume_scheduled = True
                self._loop.call_soon(self._resume_parsing)
        else:
            self._unparsed = False
        if other:
            self._after_io()

    def _resume_parsing(self) -> None:
        """Parses input left in the engine when the application did not ask for it within a
        loop iteration: one message for a waiting ``recv``, else up to ``max_queue``."""
        self._resume_scheduled = False
        if not self._unparsed or self._lost:
            return
        if self._recv_waiter is not None:
            self._process(b"", 1)
            return
        if self._max_queue is None:
            self._process(b"", None)
            return
        room = self._max_queue - len(self._queue)
        if room > 0:
            self._process(b"", room)
        elif not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _start(self) -> None:
        """The application takes over: messages are parsed from now on."""
        self._limit = 1
        self._opened = True
        self._unparsed = True
        self._after_io()  # the deadlines of the open connection (keepalive, auth)
        if not self._resume_scheduled:
            self._resume_scheduled = True
            self._loop.call_soon(self._resume_parsing)

    def _after_io(self) -> None:
        """Writes the engine's own output, closes the transport when it says so, and moves
        the timer to its next deadline."""
        ws = self._ws
        transport = self._transport
        if transport is None:
            return
        out = ws.data_to_send()
        if out and not self._lost:
            transport.write(out)
        if ws.should_close_transport:
            if not transport.is_closing():
                if self._close_code == 1006:
                    transport.abort()  # dead peer or timeout: do not wait for the buffer
                else:
                    transport.close()
            return
        deadline = ws.poll_timeout()
        if deadline is None:
            return
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._lost:
            return
        self._ws.handle_timeout()
        self._process(b"", self._limit)

    def _write(self, data: bytes) -> None:
        if data and self._transport is not None and not self._lost:
            self._transport.write(data)

    def _on_pong(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return  # a keepalive pong, or unsolicited
        now = self._loop.time()
        for key in list(pings):
            fut, sent = pings.pop(key)
            if not fut.done():
                fut.set_result(now - sent)
            if key == payload:
                self.latency = now - sent
                break

    def _on_close(self, event: CloseConnection) -> None:
        ws = self._ws
        code = int(event.code)
        reason = event.reason or ""
        state = ws.state
        if state is _OPEN:
            # The engine failed the connection (a violation, a limit, the auth timeout):
            # send the close frame it chose.
            self._sent = Close(code, reason)
            self._write(ws.send(event.response()))
        elif state is _REMOTE_CLOSING:
            # The peer's close frame: echo it.
            self._rcvd = Close(code, reason)
            self._sent = self._rcvd
            self._write(ws.send(event.response()))
        elif code != 1006:
            self._rcvd = Close(code, reason)  # the peer's reply to our close frame
        # The first close event says how the connection ended (a reply to our close frame
        # carries the peer's code; 1006 after a failure only means the peer never replied).
        if self._close_code is None:
            self._close_code = code
            self._close_reason = reason

    def _closed_error(self) -> ConnectionClosed:
        code = self._close_code if self._close_code is not None else 1006
        reason = self._close_reason
        if self._rcvd is not None and code in _OK_CODES:
            return ConnectionClosedOK(code, reason, self._rcvd, self._sent)
        return ConnectionClosedError(code, reason, self._rcvd, self._sent)

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if self._transport is not None and not self._lost:
            self._transport.resume_reading()

    async def _drain(self) -> None:
        if self._lost:
            raise self._closed_error()
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter
        if self._lost:
            raise self._closed_error()

    def _wake_drain(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)


class BufferedReads(asyncio.BufferedProtocol):
    """Mixin for a :class:`Connection` on asyncio's own event loops: the transport reads into
    the per-thread buffer (``get_buffer`` / ``buffer_updated``). Their ``data_received``
    path allocates a 256 KiB ``bytes`` for every read, which costs more than the rest of a
    small message's round trip; uvloop's does not (and is faster than this), so connections
    on other loops use ``data_received``."""

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rbuf  # type: ignore[attr-defined,no-any-return]

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rbuf[:nbytes])  # type: ignore[attr-defined]


def buffered_reads(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether connections on ``loop`` read through :class:`BufferedReads`: asyncio's own
    loops."""
    return isinstance(loop, asyncio.BaseEventLoop)


def engine_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """The engine's clock: the loop's time base, so that its deadlines go to ``call_at``.
    asyncio's own loops read ``time.monotonic`` through a Python method; the engine calls it
    directly (it reads the clock for each frame)."""
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


def engine_options(
    *,
    max_size: Optional[int],
    max_fragments: Optional[int],
    ping_interval: Optional[float],
    ping_timeout: Optional[float],
    close_timeout: Optional[float],
    open_timeout: Optional[float],
) -> dict[str, Any]:
    """The ``WSConnection`` keyword arguments for the asyncio options."""
    if ping_interval and not ping_timeout:
        raise ValueError("ping_interval needs a ping_timeout (dead-peer detection)")
    size = _engine_size(max_size)
    return dict(
        max_frame_payload=size,
        max_message_size=size,
        max_fragments=max_fragments,
        keepalive_interval=ping_interval,
        keepalive_timeout=ping_timeout if ping_interval else 10.0,
        close_timeout=close_timeout,
        handshake_timeout=open_timeout,
        auto_pong=True,
    )
