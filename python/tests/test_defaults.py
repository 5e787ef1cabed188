"""The connection options are judged by the core's ``Config::validate``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from wsmachine import Connection, ConnectionType, WSConnection


# ----------------------------------------------------------------------------------------
# The core's validator judges the values
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"max_fragments": 0}, "max_fragments must be at least 1"),
        ({"max_handshake_size": 0}, "max_handshake_size must not be 0"),
        (
            {"keepalive_interval": 1, "keepalive_timeout": None},
            "keepalive_timeout_ms must not be 0 when keepalive is on",
        ),
        ({"close_timeout": (2**31) / 1000}, "timeouts must be at most 2147483647 ms"),
        ({"handshake_timeout": 1e12}, "timeouts must be at most 2147483647 ms"),
    ],
)
def test_invalid_values_raise_the_cores_message(opts: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        WSConnection(ConnectionType.SERVER, **opts)
    if "handshake" not in next(iter(opts)):
        with pytest.raises(ValueError, match=re.escape(message)):
            Connection(ConnectionType.CLIENT, **opts)


def test_values_at_the_edges_are_accepted() -> None:
    WSConnection(ConnectionType.SERVER, max_fragments=1, max_handshake_size=1,
                 max_frame_payload=0, max_message_size=0, close_timeout=(2**31 - 1) / 1000,
                 keepalive_interval=1, keepalive_timeout=0.001)
