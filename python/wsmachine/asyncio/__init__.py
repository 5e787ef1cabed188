"""``wsmachine.asyncio``: WebSocket servers and clients on asyncio, over the wsmachine engine.

``serve(handler, host, port)`` and ``connect(uri)`` are shaped like websockets' asyncio
API: async context managers, ``async for message in ws``, ``await ws.send(message)``,
``await ws.recv()``, ``await ws.close(code, reason)``. Connections are asyncio Protocols
(no streams) driving the sans-IO ``WSConnection``; the protocol work happens in Rust.
See python/README.md ("asyncio: serve and connect").
"""

from .client import ClientConnection, connect
from .connection import Connection, Data
from .exceptions import (
    Close,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from .http import Headers, HeadersLike, Request, Response
from .server import Server, ServerConnection, serve

__all__ = [
    "ClientConnection",
    "Close",
    "ConcurrencyError",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "Headers",
    "HeadersLike",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidURI",
    "Request",
    "Response",
    "Server",
    "ServerConnection",
    "WebSocketException",
    "connect",
    "serve",
]
