"""``wsproto.extensions``: WebSocket extensions, with permessage-deflate (RFC 7692).

Pass a :class:`PerMessageDeflate` in ``extensions=`` as with wsproto: in a client's
``Request`` (the connection offers permessage-deflate), in a server's ``AcceptConnection``
(it accepts an acceptable offer of the request), or to the post-handshake ``Connection``
(after its ``accept`` or ``finalize`` ran). Negotiation, compression and decompression
happen in the Rust engine (zlib-rs); compressed messages arrive as ordinary
``TextMessage`` / ``BytesMessage`` events, and messages of 32 bytes or more are sent
compressed.

Other :class:`Extension` subclasses are not negotiated: a client does not offer them and a
server does not accept them (the engine does the framing, so there are no frame hooks).
"""

from typing import Dict, Optional, Tuple, Type, Union

from .._wsmachine import _pmd_accept, _pmd_finalize

__all__ = ["SUPPORTED_EXTENSIONS", "Extension", "PerMessageDeflate"]


class Extension:
    """Base class of extensions. Only :class:`PerMessageDeflate` is negotiated."""

    name: str = ""

    def enabled(self) -> bool:
        """Whether the extension was agreed and is in use."""
        return False

    def offer(self) -> Union[bool, str]:
        """The parameters a client offers (``True``: the name alone; ``False``: none)."""
        return False

    def accept(self, offer: str) -> Union[bool, str, None]:
        """Server: the response's parameters for the request element ``offer``, or ``None``
        to decline it."""
        return None

    def finalize(self, offer: str) -> None:
        """Client: takes the server's response element."""


def _window_bits(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 9 <= value <= 15:
        raise ValueError("Window size must be between 9 and 15 inclusive")
    return value


class PerMessageDeflate(Extension):
    """permessage-deflate (RFC 7692), with wsproto's settings.

    As a client's offer: ``client_max_window_bits`` is the window of our compressor,
    ``server_max_window_bits`` the most the server may use, and the ``*_no_context_takeover``
    flags are offered (``client_...``) or asked for (``server_...``). As a server's
    acceptance: the server's compressor uses at most ``server_max_window_bits`` (less if the
    client asks), the client is asked for at most ``client_max_window_bits`` (an offer that
    does not allow a limit is declined when this is below 15), and each flag set here is
    required. After the handshake the attributes say what was agreed, and :meth:`enabled` is
    true. Window bits are 9..15; a peer may still agree on 8 (the engine's own compressor
    serves that window).
    """

    name = "permessage-deflate"

    DEFAULT_CLIENT_MAX_WINDOW_BITS = 15
    DEFAULT_SERVER_MAX_WINDOW_BITS = 15

    def __init__(
        self,
        client_no_context_takeover: bool = False,
        client_max_window_bits: Optional[int] = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
    ) -> None:
        self.client_no_context_takeover = client_no_context_takeover
        self.server_no_context_takeover = server_no_context_takeover
        self._client_max_window_bits = self.DEFAULT_CLIENT_MAX_WINDOW_BITS
        self._server_max_window_bits = self.DEFAULT_SERVER_MAX_WINDOW_BITS
        if client_max_window_bits is not None:
            self.client_max_window_bits = client_max_window_bits
        if server_max_window_bits is not None:
            self.server_max_window_bits = server_max_window_bits
        self._enabled = False

    @property
    def client_max_window_bits(self) -> int:
        """Window bits of the client's compressor (9..15)."""
        return self._client_max_window_bits

    @client_max_window_bits.setter
    def client_max_window_bits(self, value: int) -> None:
        self._client_max_window_bits = _window_bits(value)

    @property
    def server_max_window_bits(self) -> int:
        """Window bits of the server's compressor (9..15)."""
        return self._server_max_window_bits

    @server_max_window_bits.setter
    def server_max_window_bits(self, value: int) -> None:
        self._server_max_window_bits = _window_bits(value)

    def enabled(self) -> bool:
        """Whether permessage-deflate was agreed with these settings."""
        return self._enabled

    def _settings(self) -> Tuple[bool, int, bool, int]:
        return (
            bool(self.client_no_context_takeover),
            self.client_max_window_bits,
            bool(self.server_no_context_takeover),
            self.server_max_window_bits,
        )

    def _agreed(
        self,
        client_no_context_takeover: bool,
        client_max_window_bits: int,
        server_no_context_takeover: bool,
        server_max_window_bits: int,
    ) -> None:
        # Set by the engine after a negotiation; may be 8 (not a value users can set).
        self.client_no_context_takeover = client_no_context_takeover
        self._client_max_window_bits = client_max_window_bits
        self.server_no_context_takeover = server_no_context_takeover
        self._server_max_window_bits = server_max_window_bits
        self._enabled = True

    def offer(self) -> Union[bool, str]:
        """The offer's parameters, as wsproto writes them. (A ``WSConnection`` writes the
        engine's equivalent offer itself.)"""
        parameters = [
            f"client_max_window_bits={self.client_max_window_bits}",
            f"server_max_window_bits={self.server_max_window_bits}",
        ]
        if self.client_no_context_takeover:
            parameters.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            parameters.append("server_no_context_takeover")
        return "; ".join(parameters)

    def accept(self, offer: str) -> Union[bool, str, None]:
        """Server, outside a ``WSConnection``: the response's parameters for the offer
        element ``offer`` (``permessage-deflate; ...``), chosen by the engine's negotiation,
        or ``None`` to decline. Records what was agreed and enables the extension."""
        answer = _pmd_accept(offer, *self._settings())
        if answer is None:
            return None
        agreed, parameters = answer
        self._agreed(*agreed)
        return parameters

    def finalize(self, offer: str) -> None:
        """Client, outside a ``WSConnection``: takes the server's response element
        ``offer``, checked against what these settings offered (``ValueError`` for a response
        the client cannot use: it must fail the connection). Enables the extension."""
        self._agreed(*_pmd_finalize(offer, *self._settings()))

    def __repr__(self) -> str:
        descr = [f"client_max_window_bits={self.client_max_window_bits}"]
        if self.client_no_context_takeover:
            descr.append("client_no_context_takeover")
        descr.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.server_no_context_takeover:
            descr.append("server_no_context_takeover")
        return "<{} {}>".format(self.__class__.__name__, "; ".join(descr))


#: The extensions wsmachine negotiates, by name.
SUPPORTED_EXTENSIONS: Dict[str, Type[Extension]] = {PerMessageDeflate.name: PerMessageDeflate}
