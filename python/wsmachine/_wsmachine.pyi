"""The native module: wsproto's events and connection over the wsmachine core (Rust)."""

from typing import Any, Callable, ClassVar, Generic, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar, Union, final

from typing_extensions import Self, disjoint_base

from ._types import ConnectionState, ConnectionType, ReadyState

__version__: str
#: The defaults of the connection options, by argument name, in Python units (seconds; ``None``
#: is off). Read-only.
DEFAULTS: Mapping[str, Union[int, float, bool, None]]
__all__ = [
    "__version__",
    "DEFAULTS",
    "Event",
    "Request",
    "AcceptConnection",
    "RejectConnection",
    "RejectData",
    "CloseConnection",
    "Message",
    "TextMessage",
    "BytesMessage",
    "Ping",
    "Pong",
    "WSConnection",
    "Connection",
    "EventIter",
    "Backoff",
    "should_reconnect",
    "plan",
    "generate_accept_token",
    "_pmd_accept",
    "_pmd_finalize",
]

_Headers = Iterable[tuple[Union[bytes, str], Union[bytes, str]]]
_BytesLike = Union[bytes, bytearray, memoryview]

class Event:
    """Base class of every event."""

    def __new__(cls) -> Self: ...

@final
class Request(Event):
    """The opening handshake request: received by a server, sent first by a client.

    ``extra_headers`` are ``(name, value)`` pairs; received ones are bytes with lowercase
    names and exclude Host, Sec-WebSocket-Extensions and Sec-WebSocket-Protocol (which are in
    ``host``, ``extensions`` and ``subprotocols``). Sent: a ``PerMessageDeflate`` in
    ``extensions`` makes the connection offer permessage-deflate (other extensions are not
    offered).
    """

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def host(self) -> str:
        """The Host header value."""
    @property
    def target(self) -> str:
        """The request target: path and query string."""
    @property
    def extensions(self) -> Sequence[Any]:
        """The offered extensions (received: their header elements, as ``str``; sent:
        ``Extension`` objects)."""
    @property
    def extra_headers(self) -> list[tuple[bytes, bytes]]:
        """The other request headers."""
    @property
    def subprotocols(self) -> list[str]:
        """The offered subprotocols, in order of preference."""
    def __new__(
        cls,
        host: str,
        target: str,
        extensions: Optional[Sequence[Any]] = ...,
        extra_headers: Optional[_Headers] = ...,
        subprotocols: Optional[list[str]] = ...,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class AcceptConnection(Event):
    """Acceptance of the upgrade: sent by a server, received by a client.

    Received ``extra_headers`` exclude the WebSocket headers (Connection, Upgrade,
    Sec-WebSocket-Accept, -Protocol, -Extensions). Sent: a ``PerMessageDeflate`` in
    ``extensions`` accepts an acceptable permessage-deflate offer of the request (other
    extensions are not accepted).
    """

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def subprotocol(self) -> Optional[str]:
        """The chosen subprotocol (one the client offered), or ``None``."""
    @property
    def extensions(self) -> list[Any]:
        """Accepted extensions; received: the request's ``PerMessageDeflate`` when the server
        accepted it (its attributes then hold the agreed parameters), else empty."""
    @property
    def extra_headers(self) -> list[tuple[bytes, bytes]]:
        """Extra response headers."""
    def __new__(
        cls,
        subprotocol: Optional[str] = ...,
        extensions: Optional[list[Any]] = ...,
        extra_headers: Optional[_Headers] = ...,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RejectConnection(Event):
    """Refusal of the upgrade: the HTTP response's status and headers.

    A server sending ``has_body=True`` gets the response head (with a chunked body) at once
    and follows with ``RejectData`` events, each sent as a chunk. A client receives
    ``has_body=True`` for every final status, then ``RejectData`` events. Content-Length,
    Transfer-Encoding and Connection headers given to send are dropped: the engine frames
    the response itself.
    """

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def status_code(self) -> int:
        """The HTTP status (200-599 to send)."""
    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The response headers."""
    @property
    def has_body(self) -> bool:
        """Whether ``RejectData`` events follow."""
    def __new__(
        cls,
        status_code: int = ...,
        headers: Optional[_Headers] = ...,
        has_body: bool = ...,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RejectData(Event):
    """A piece of a refusal response's body; the last one has ``body_finished``."""

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def data(self) -> bytes:
        """The body bytes."""
    @property
    def body_finished(self) -> bool:
        """Whether this is the last piece."""
    def __new__(
        cls, data: _BytesLike, body_finished: bool = ...) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class CloseConnection(Event):
    """A close frame, received or to send; also how the end of a connection is reported
    (1006 when the transport was lost or a timer expired, the violation's code when the peer
    broke the protocol or a limit)."""

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def code(self) -> int:
        """The close code (a ``CloseReason`` member when registered)."""
    @property
    def reason(self) -> Optional[str]:
        """The reason text, or ``None``."""
    def __new__(
        cls, code: int, reason: Optional[str] = ...) -> Self: ...
    def response(self) -> CloseConnection:
        """The close event to send back (same code and reason)."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

_T = TypeVar("_T", bytes, str)

@disjoint_base
class Message(Event, Generic[_T]):
    """One chunk of a data message: ``str`` data is sent as text, bytes-like as binary.

    Received chunks follow the frames as they arrive: ``frame_finished`` marks the end of a
    frame and ``message_finished`` the end of the message.
    """

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def data(self) -> _T:
        """The chunk."""
    @property
    def frame_finished(self) -> bool:
        """Last chunk of its frame."""
    @property
    def message_finished(self) -> bool:
        """Last chunk of the message."""
    def __new__(
        cls, data: _T, frame_finished: bool = ..., message_finished: bool = ...) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __class_getitem__(cls, item: Any) -> Any:
        """``Message[str]`` at run time, as for a generic class."""

@final
class TextMessage(Message[str]):
    """A chunk of a text message (never split inside a code point)."""

    def __new__(
        cls, data: str, frame_finished: bool = ..., message_finished: bool = ...) -> Self: ...

@final
class BytesMessage(Message[bytes]):
    """A chunk of a binary message."""

    def __new__(
        cls, data: bytes, frame_finished: bool = ..., message_finished: bool = ...) -> Self: ...

@final
class Ping(Event):
    """A ping, received or to send (payload at most 125 bytes)."""

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def payload(self) -> bytes:
        """The payload."""
    def __new__(
        cls, payload: _BytesLike = ...) -> Self: ...
    def response(self) -> Pong:
        """The pong answering this ping (same payload)."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Pong(Event):
    """A pong, received or to send (payload at most 125 bytes)."""

    __match_args__: ClassVar[tuple[str, ...]]
    @property
    def payload(self) -> bytes:
        """The payload."""
    def __new__(
        cls, payload: _BytesLike = ...) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class EventIter:
    """The iterator returned by ``events()``: parses buffered input one event at a time."""

    def __iter__(self) -> EventIter: ...
    def __next__(self) -> Event: ...

@disjoint_base
class WSConnection:
    """A WebSocket connection with wsproto's API.

    A client sends ``Request`` first and receives ``AcceptConnection`` or
    ``RejectConnection`` + ``RejectData``; a server receives ``Request`` and sends
    ``AcceptConnection`` or ``RejectConnection`` (+ ``RejectData``). Then both exchange
    ``TextMessage``/``BytesMessage``, ``Ping``/``Pong`` and ``CloseConnection``. Pings and
    closes are answered by the application (``event.response()``) unless ``auto_pong``.

    Options (keyword-only; their defaults are ``wsmachine.DEFAULTS``):

    * ``max_frame_payload=16777216`` (16 MiB): a larger data frame closes the connection with
      1009.
    * ``max_message_size=16777216`` (16 MiB): a larger message closes it with 1009.
    * ``max_fragments=65536``: a message of more frames closes it with 1009.
    * ``max_handshake_size=8192`` (8 KiB): a larger handshake head is refused (server: 431).
    * ``handshake_timeout=10.0``, ``auth_timeout=None``, ``keepalive_interval=None``,
      ``keepalive_timeout=10.0``, ``close_timeout=5.0``: timers in seconds (``None`` or 0
      turns one off), driven by ``poll_timeout`` / ``handle_timeout``.
    * ``auto_pong=False``: answer pings without the application (wsproto leaves that to it).
    * ``clock``: a function returning monotonic seconds (default ``time.monotonic``; use
      ``loop.time`` under asyncio).

    Values the engine cannot work with raise ``ValueError``.
    """

    def __new__(
        cls,
        connection_type: ConnectionType,
        *,
        max_frame_payload: Optional[int] = ...,
        max_message_size: Optional[int] = ...,
        max_fragments: Optional[int] = ...,
        max_handshake_size: Optional[int] = ...,
        handshake_timeout: Optional[float] = ...,
        auth_timeout: Optional[float] = ...,
        keepalive_interval: Optional[float] = ...,
        keepalive_timeout: Optional[float] = ...,
        close_timeout: Optional[float] = ...,
        auto_pong: bool = ...,
        clock: Optional[Callable[[], float]] = ...,
    ) -> Self: ...
    @property
    def client(self) -> bool:
        """Whether this is the client end."""
    @property
    def state(self) -> ConnectionState:
        """wsproto's connection state."""
    @property
    def ready_state(self) -> ReadyState:
        """The browser's readyState: CONNECTING, OPEN, CLOSING or CLOSED."""
    @property
    def close_code(self) -> Optional[int]:
        """How the connection ended or is ending (peer's code, ours on failure, 1006 when
        lost); ``None`` while open."""
    @property
    def should_close_transport(self) -> bool:
        """Whether to close the transport now, after writing ``data_to_send()``."""
    @property
    def input_pending(self) -> bool:
        """Whether received input may still produce events: bytes not parsed yet (left by
        ``receive_messages`` with ``max_messages``), events not handed out, or an end of file
        not acted on. When false, ``receive_messages(b"")`` returns nothing until more input,
        a timeout or an end of file."""
    @property
    def authenticated(self) -> bool:
        """Whether the connection counts as authenticated (see ``auth_timeout``)."""
    def set_authenticated(self) -> None:
        """Marks a server connection authenticated, stopping the ``auth_timeout`` timer."""
    def send(self, event: Event) -> bytes:
        """Returns the bytes to write for ``event``.

        Raises ``LocalProtocolError`` when the event cannot be sent in the current state,
        ``TypeError`` for data that is neither ``str`` nor bytes-like, ``ValueError`` for a
        ping or pong payload over 125 bytes.
        """
    def receive_data(self, data: Optional[_BytesLike]) -> None:
        """Feeds bytes read from the transport; ``None`` reports end-of-file.

        During the opening handshake an invalid request or response raises
        ``RemoteProtocolError`` (its ``event_hint`` is a fitting ``RejectConnection``).
        """
    def receive_messages(
        self, data: Optional[_BytesLike], max_messages: Optional[int] = ...
    ) -> list[Union[str, bytes, Event]]:
        """Feeds ``data`` as ``receive_data`` does (empty ``data``, or data after the
        connection closed, feeds nothing) and returns the events it produced, parsed at once, with each data message whole: ``str`` for
        text, ``bytes`` for binary, instead of ``TextMessage`` / ``BytesMessage`` chunks.
        Other events are the usual objects. With ``max_messages``, parsing stops after that
        many data messages (0: only the events already parsed, such as the handshake's), and
        the rest of the input waits for the next call. With ``auto_pong``, each ping's pong
        is taken from the engine as the ping is parsed, so that every ping gets one:
        ``data_to_send()`` returns them. For event-loop drivers (``wsmachine.asyncio``); not
        to be mixed with ``events()`` inside a message."""
    def events(self) -> Iterator[Event]:
        """The events the received bytes produce, parsed as the iterator advances."""
    def initiate_upgrade_connection(self, headers: _Headers, path: Union[bytes, str]) -> None:
        """Server: feeds an upgrade request that an HTTP server already parsed."""
    def data_to_send(self) -> bytes:
        """Bytes the connection produced by itself: keepalive pings, automatic pongs, a close
        reply or failure close not yet sent by the application, the HTTP error response of a
        failed handshake. Call after ``handle_timeout`` and after handling events."""
    def poll_timeout(self) -> Optional[float]:
        """The next deadline in the clock's time base, or ``None``."""
    def handle_timeout(self, now: Optional[float] = ...) -> None:
        """Acts on expired deadlines at ``now`` (default: the clock); then call
        ``data_to_send()`` and ``events()``."""

@final
class Connection(WSConnection):
    """wsproto's post-handshake ``Connection``: starts OPEN; ``trailing_data`` holds bytes
    received after the handshake. An enabled ``PerMessageDeflate`` in ``extensions`` (after
    its ``accept`` or ``finalize``) turns permessage-deflate on with its parameters; other
    extensions are ignored. The keyword options
    are ``WSConnection``'s (without the handshake ones)."""

    def __new__(
        cls,
        connection_type: ConnectionType,
        extensions: Optional[list[Any]] = ...,
        trailing_data: Optional[_BytesLike] = ...,
        *,
        max_frame_payload: Optional[int] = ...,
        max_message_size: Optional[int] = ...,
        max_fragments: Optional[int] = ...,
        keepalive_interval: Optional[float] = ...,
        keepalive_timeout: Optional[float] = ...,
        close_timeout: Optional[float] = ...,
        auto_pong: bool = ...,
        clock: Optional[Callable[[], float]] = ...,
    ) -> Self: ...

@final
class Backoff:
    """Exponential backoff with jitter: attempt ``n`` waits ``min(initial * 2**n, maximum)``
    seconds, give or take ``jitter`` (a fraction) of that."""

    def __new__(
        cls, initial: float = ..., maximum: float = ..., jitter: float = ...) -> Self: ...
    @property
    def initial(self) -> float:
        """Delay before the first retry, in seconds."""
    @property
    def maximum(self) -> float:
        """Cap on the delay before jitter, in seconds."""
    @property
    def jitter(self) -> float:
        """Jitter as a fraction of the delay."""
    @property
    def attempt(self) -> int:
        """Delays handed out since the last reset."""
    def reset(self) -> None:
        """Forget past failures."""
    def next_delay(self, random: Optional[int] = ...) -> float:
        """The next delay in seconds (``random``: 32 bits, default from ``os.urandom``)."""
    def delay_for(self, attempt: int, random: int) -> float:
        """The delay for ``attempt`` given 32 random bits, without changing state."""

def should_reconnect(code: int) -> bool:
    """Whether a connection closed with ``code`` should be retried (1001, 1006, 1011-1014)."""

def plan(code: int, backoff: Backoff, random: Optional[int] = ...) -> Optional[float]:
    """``None`` when a close with ``code`` should not be retried, else the next delay."""

def generate_accept_token(token: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``."""

def _pmd_accept(
    offer: str,
    client_no_context_takeover: bool,
    client_max_window_bits: int,
    server_no_context_takeover: bool,
    server_max_window_bits: int,
) -> Optional[tuple[tuple[bool, int, bool, int], str]]:
    """``PerMessageDeflate.accept``: the agreed parameters and the response's parameter
    string for one offer element, or ``None`` to decline."""

def _pmd_finalize(
    response: str,
    client_no_context_takeover: bool,
    client_max_window_bits: int,
    server_no_context_takeover: bool,
    server_max_window_bits: int,
) -> tuple[bool, int, bool, int]:
    """``PerMessageDeflate.finalize``: the agreed parameters of a response element
    (``ValueError`` when the client cannot use it)."""
