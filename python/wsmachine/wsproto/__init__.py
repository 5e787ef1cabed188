"""wsproto's module layout over wsmachine: change ``wsproto`` to ``wsmachine.wsproto`` in
imports and the rest of the code stays as it is."""

from .._types import ConnectionState, ConnectionType
from .._wsmachine import Connection, WSConnection
from .handshake import H11Handshake

__version__ = "1.3.2"
"""The wsproto release whose API and behaviour this package follows (wsmachine's own version
is ``wsmachine.__version__``)."""

__all__ = ("ConnectionType", "WSConnection")
