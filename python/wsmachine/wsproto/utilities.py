"""``wsproto.utilities``: the protocol errors and the handshake key helpers."""

import base64
import os

from .._types import LocalProtocolError, ProtocolError, RemoteProtocolError
from .._wsmachine import generate_accept_token

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "generate_accept_token",
    "generate_nonce",
]


def generate_nonce() -> bytes:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded."""
    return base64.b64encode(os.urandom(16))
