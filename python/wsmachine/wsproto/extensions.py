"""``wsproto.extensions``, for import compatibility only.

wsmachine implements no extension: offers in ``Request.extensions`` are not sent, and
extensions passed to ``AcceptConnection`` are not negotiated, so a connection always runs
without compression. (Declining an extension is always legal, so peers interoperate.)
"""

from typing import Optional

__all__ = ["Extension", "PerMessageDeflate"]


class Extension:
    """Base class of extensions (never negotiated by wsmachine)."""

    name: str = ""

    def enabled(self) -> bool:
        """Always ``False``: wsmachine negotiates no extension."""
        return False


class PerMessageDeflate(Extension):
    """Accepted for compatibility; permessage-deflate is never offered or negotiated."""

    name = "permessage-deflate"

    def __init__(
        self,
        client_no_context_takeover: bool = False,
        client_max_window_bits: Optional[int] = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
    ) -> None:
        self.client_no_context_takeover = client_no_context_takeover
        self.client_max_window_bits = client_max_window_bits
        self.server_no_context_takeover = server_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
