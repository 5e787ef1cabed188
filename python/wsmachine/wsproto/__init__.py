"""wsproto's module layout over wsmachine: change ``wsproto`` to ``wsmachine.wsproto`` in
imports and the rest of the code stays as it is."""

from .._types import ConnectionType
from .._wsmachine import WSConnection

__all__ = ("ConnectionType", "WSConnection")
