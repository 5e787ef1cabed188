"""``wsproto.utilities``: the protocol errors, the handshake key helpers and two header
helpers."""

import base64
import os
from typing import Dict, Iterable, List, Tuple, Union

from .._types import LocalProtocolError, ProtocolError, RemoteProtocolError
from .._wsmachine import generate_accept_token

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "generate_accept_token",
    "generate_nonce",
    "normed_header_dict",
    "split_comma_header",
]


def generate_nonce() -> bytes:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded."""
    return base64.b64encode(os.urandom(16))


def normed_header_dict(
    headers: Iterable[Tuple[Union[bytes, bytearray], Union[bytes, bytearray]]],
) -> Dict[bytes, bytes]:
    """The headers as a dict from name to value, the values of a repeated name joined with
    ``b", "`` in order (the list form HTTP allows for every header but Set-Cookie). Names are
    taken as they are: pass lower-cased names (as h11 gives them) to look them up by lower
    case."""
    joined: Dict[bytes, List[bytes]] = {}
    for name, value in headers:
        joined.setdefault(bytes(name), []).append(bytes(value))
    return {name: b", ".join(values) for name, values in joined.items()}


def split_comma_header(value: bytes) -> List[str]:
    """The elements of a comma-separated header value (ASCII), stripped of surrounding
    whitespace. Commas inside quoted strings are not special-cased."""
    return [element.strip() for element in value.decode("ascii").split(",")]
