"""Enumerations and exceptions shared by the native module and the wsproto-compatible layer.

They are plain Python (``enum.Enum`` / ``IntEnum`` and ``Exception`` subclasses) so that they
behave exactly like their wsproto counterparts: iteration, ``.name``/``.value``, identity
comparisons (``ws.state is ConnectionState.OPEN``) and integer comparisons for close codes.
The native module looks them up here; nothing in this file does protocol work.

``ReadyState``, ``Opcode`` and ``CloseReason`` restate numbers of the Rust core: the ffi crate's
tests (``ffi/src/enum_numbers_tests.rs``, run by ``cargo test``) fail if they drift from it.
The wsproto-compatible names and values are checked against wsproto in
``python/tests/test_wsproto_interop.py``.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ._wsmachine import Event

__all__ = [
    "CloseReason",
    "ConnectionState",
    "ConnectionType",
    "LocalProtocolError",
    "Opcode",
    "ProtocolError",
    "ReadyState",
    "RemoteProtocolError",
]


class ConnectionType(Enum):
    """Which end of the connection this is."""

    #: Sends the upgrade request and masks every frame.
    CLIENT = 1
    #: Answers the upgrade request.
    SERVER = 2


class ConnectionState(Enum):
    """Where the connection is in its life (wsproto's states)."""

    #: The opening handshake has not finished.
    CONNECTING = 0
    #: Messages may flow both ways.
    OPEN = 1
    #: The peer sent a close frame; ours has not been sent yet.
    REMOTE_CLOSING = 2
    #: We sent a close frame; the peer's has not arrived yet.
    LOCAL_CLOSING = 3
    #: The connection is over.
    CLOSED = 4
    #: The upgrade was refused and the HTTP response body is in transit.
    REJECTING = 5


class ReadyState(IntEnum):
    """The browser's ``WebSocket.readyState`` numbering."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class CloseReason(IntEnum):
    """Close codes with a registered meaning (RFC 6455 section 7.4.1 and IANA)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    #: Local only: the close frame carried no code.
    NO_STATUS_RCVD = 1005
    #: Local only: the connection ended without a close frame.
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXT = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    #: Local only: the TLS handshake failed.
    TLS_HANDSHAKE_FAILED = 1015


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 section 5.2)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    def iscontrol(self) -> bool:
        """Whether this is a control frame opcode (close, ping, pong)."""
        return bool(self & 0x08)


class ProtocolError(Exception):
    """Base class of the two protocol errors."""


class LocalProtocolError(ProtocolError):
    """The application asked for something the protocol or the connection's state forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent an invalid opening handshake.

    ``event_hint`` is a suggested event to send in reply (a ``RejectConnection`` with a
    fitting status), or ``None``.
    """

    def __init__(self, message: str, event_hint: Optional[Event] = None) -> None:
        self.event_hint = event_hint
        super().__init__(message)
