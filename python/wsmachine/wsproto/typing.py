"""``wsproto.typing``: the header list type."""

from typing import List, Tuple

#: Headers as ``(name, value)`` byte pairs.
Headers = List[Tuple[bytes, bytes]]

__all__ = ["Headers"]
