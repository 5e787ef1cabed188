"""Exceptions of ``wsmachine.asyncio`` (named as in websockets' asyncio API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .http import Response

__all__ = [
    "Close",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidURI",
    "WebSocketException",
]


class Close:
    """A close frame: its code and reason."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Close) and (self.code, self.reason) == (other.code, other.reason)

    def __hash__(self) -> int:
        return hash((self.code, self.reason))

    def __repr__(self) -> str:
        return f"Close(code={self.code}, reason={self.reason!r})"


class WebSocketException(Exception):
    """Base class of the exceptions raised by ``wsmachine.asyncio``."""


class ConnectionClosed(WebSocketException):
    """The connection is closed: raised by ``recv``, ``send`` and ``ping`` afterwards.

    ``code`` and ``reason`` are the connection's ``close_code`` and ``close_reason``;
    ``rcvd`` is the close frame the peer sent and ``sent`` the one we sent (``None`` when
    there was none, e.g. a lost connection or a dead peer: ``code`` 1006).
    """

    def __init__(
        self, code: int, reason: str, rcvd: Optional[Close] = None, sent: Optional[Close] = None
    ) -> None:
        self.code = code
        self.reason = reason
        self.rcvd = rcvd
        self.sent = sent
        super().__init__(f"connection closed: {code} {reason}".rstrip())


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed with a closing handshake and code 1000, 1001 or 1005."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed any other way (an error code, a violation, a lost peer)."""


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class InvalidStatus(InvalidHandshake):
    """The server refused the upgrade: ``response`` holds the status, headers and body."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status_code}")


class InvalidURI(InvalidHandshake):
    """The URI is not a ws:// or wss:// URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg
        super().__init__(f"{uri} isn't a valid URI: {msg}")


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines called ``recv`` at the same time."""
