"""wsmachine: a sans-IO WebSocket (RFC 6455) engine in Rust with wsproto's API.

Everything here is also available under wsproto's module layout in ``wsmachine.wsproto``.
``wsmachine.asyncio`` has an asyncio server and client on top (``serve``, ``connect``).
"""

from ._types import (
    CloseReason,
    ConnectionState,
    ConnectionType,
    LocalProtocolError,
    Opcode,
    ProtocolError,
    ReadyState,
    RemoteProtocolError,
)
from ._wsmachine import (
    DEFAULTS,
    AcceptConnection,
    Backoff,
    BytesMessage,
    CloseConnection,
    Connection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
    WSConnection,
    __version__,
    generate_accept_token,
    should_reconnect,
)

__all__ = [
    "DEFAULTS",
    "AcceptConnection",
    "Backoff",
    "BytesMessage",
    "CloseConnection",
    "CloseReason",
    "Connection",
    "ConnectionState",
    "ConnectionType",
    "Event",
    "LocalProtocolError",
    "Message",
    "Opcode",
    "Ping",
    "Pong",
    "ProtocolError",
    "ReadyState",
    "RejectConnection",
    "RejectData",
    "RemoteProtocolError",
    "Request",
    "TextMessage",
    "WSConnection",
    "__version__",
    "generate_accept_token",
    "should_reconnect",
]
