"""``wsproto.frame_protocol``: close codes, opcodes and the RSV bits type of the extension
hooks. The framing itself is in Rust: wsproto's frame-level classes (``FrameProtocol``,
``FrameDecoder``, ``MessageDecoder``, ``Frame``, ``Buffer``, ``ParseFailed``) are not here."""

from typing import NamedTuple

from .._types import CloseReason, Opcode

#: Codes that are reported locally but never sent in a close frame.
LOCAL_ONLY_CLOSE_REASONS = (
    CloseReason.NO_STATUS_RCVD,
    CloseReason.ABNORMAL_CLOSURE,
    CloseReason.TLS_HANDSHAKE_FAILED,
)


class RsvBits(NamedTuple):
    """The three RSV bits of a frame header."""

    rsv1: bool
    rsv2: bool
    rsv3: bool


__all__ = ["LOCAL_ONLY_CLOSE_REASONS", "CloseReason", "Opcode", "RsvBits"]
