"""``wsproto.connection``: the connection states and types, and the post-handshake
``Connection``."""

from .._types import ConnectionState, ConnectionType
from .._wsmachine import Connection

CLIENT = ConnectionType.CLIENT
SERVER = ConnectionType.SERVER

__all__ = ["CLIENT", "SERVER", "Connection", "ConnectionState", "ConnectionType"]
