"""``wsproto.extensions``: WebSocket extensions, with permessage-deflate (RFC 7692).

Pass a :class:`PerMessageDeflate` in ``extensions=`` as with wsproto: in a client's
``Request`` (the connection offers permessage-deflate), in a server's ``AcceptConnection``
(it accepts an acceptable offer of the request), or to the post-handshake ``Connection``
(after its ``accept`` or ``finalize`` ran). Negotiation, compression and decompression
happen in the Rust engine (zlib-rs); compressed messages arrive as ordinary
``TextMessage`` / ``BytesMessage`` events, and messages of 32 bytes or more are sent
compressed.

Other :class:`Extension` subclasses are negotiated as wsproto negotiates them: a client's
``Request`` offers what their :meth:`~Extension.offer` returns and calls
:meth:`~Extension.finalize` with the server's response element; a server's
``AcceptConnection`` calls :meth:`~Extension.accept` with each request element of the same
name and answers with what it returns. Their frame hooks are not called: the engine frames
and checks every frame itself, and a frame with an RSV bit set that permessage-deflate does
not own still fails the connection (1002). So an extension that overrides a frame hook is not
negotiated at all (a ``RuntimeWarning`` says so): agreeing to it would garble its messages.
"""

import warnings
from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Tuple, Type, Union

from .._types import CloseReason, Opcode
from .._wsmachine import _pmd_accept, _pmd_finalize
from .frame_protocol import RsvBits

__all__ = ["SUPPORTED_EXTENSIONS", "Extension", "PerMessageDeflate"]


class Extension(ABC):
    """Base class of extensions: ``name`` and :meth:`offer` are required.

    The negotiation hooks (:meth:`offer`, :meth:`accept`, :meth:`finalize`) are called by a
    ``WSConnection``; the frame hooks (``frame_*``) are wsproto's defaults and are not called
    (the framing is in Rust): a subclass that overrides one is not negotiated.
    """

    name: str

    def enabled(self) -> bool:
        """Whether the extension was agreed and is in use."""
        return False

    @abstractmethod
    def offer(self) -> Union[bool, str]:
        """Client: the offer's parameters (``True``: the name alone; ``False``: no offer)."""

    def accept(self, offer: str) -> Union[bool, str, None]:
        """Server: the response's parameters for the request element ``offer`` (``True``:
        the name alone; ``None`` or ``False``: declined)."""
        return None

    def finalize(self, offer: str) -> None:
        """Client: takes the server's response element."""

    def frame_inbound_header(
        self, proto: Any, opcode: Opcode, rsv: RsvBits, payload_length: int
    ) -> Union[CloseReason, RsvBits]:
        """The RSV bits this extension claims on a received frame (none). Not called by the
        engine."""
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> Union[bytes, CloseReason]:
        """Received payload, transformed (unchanged). Not called by the engine."""
        return data

    def frame_inbound_complete(self, proto: Any, fin: bool) -> Union[bytes, CloseReason, None]:
        """Data to add at the end of a received frame (none). Not called by the engine."""
        return None

    def frame_outbound(
        self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool
    ) -> Tuple[RsvBits, bytes]:
        """An outgoing frame's RSV bits and payload, transformed (unchanged). Not called by
        the engine."""
        return (rsv, data)


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
        or ``None`` to decline. Records what was agreed and enables the extension.

        As wsproto's does, the answer states both window sizes the offer named (the engine
        leaves out a size that is the default 15; either way means the same)."""
        answer = _pmd_accept(offer, *self._settings())
        if answer is None:
            return None
        agreed, parameters = answer
        self._agreed(*agreed)
        named = {p.split("=", 1)[0].strip().lower() for p in offer.split(";")[1:]}
        given = {p.split("=", 1)[0].strip() for p in parameters.split(";") if p.strip()}
        extra = [
            f"{name}={getattr(self, name)}"
            for name in ("client_max_window_bits", "server_max_window_bits")
            if name in named and name not in given
        ]
        return "; ".join(([parameters] if parameters else []) + extra)

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

_FRAME_HOOKS = (
    "frame_inbound_header",
    "frame_inbound_payload_data",
    "frame_inbound_complete",
    "frame_outbound",
)


def _is_base(cls: type) -> bool:
    """``Extension`` itself, ours or wsproto's (whose frame hooks do nothing)."""
    return cls is Extension or (
        cls.__module__ == "wsproto.extensions" and cls.__qualname__ == "Extension"
    )


def _negotiable(extension: object) -> bool:
    """Whether a ``WSConnection`` may offer or accept ``extension`` (not a
    ``PerMessageDeflate``): only when it leaves the frame hooks as ``Extension`` has them.
    The engine never calls them, so agreeing to an extension that transforms frames would
    garble its messages; such an extension is left out with a ``RuntimeWarning``."""
    overridden = []
    for hook in _FRAME_HOOKS:
        owner = next((c for c in type(extension).__mro__ if hook in vars(c)), None)
        if owner is not None and not _is_base(owner):
            overridden.append(hook)
    if not overridden:
        return True
    warnings.warn(
        f"{type(extension).__name__} (extension {getattr(extension, 'name', '?')!r}) is not "
        f"negotiated: it overrides {', '.join(overridden)}, and wsmachine does not call "
        "Extension frame hooks",
        RuntimeWarning,
        stacklevel=2,
    )
    return False
