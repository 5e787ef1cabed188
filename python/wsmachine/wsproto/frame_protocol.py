"""``wsproto.frame_protocol``: close codes and opcodes (the framing itself is in Rust)."""

from .._types import CloseReason, Opcode

#: Codes that are reported locally but never sent in a close frame.
LOCAL_ONLY_CLOSE_REASONS = (
    CloseReason.NO_STATUS_RCVD,
    CloseReason.ABNORMAL_CLOSURE,
    CloseReason.TLS_HANDSHAKE_FAILED,
)

__all__ = ["LOCAL_ONLY_CLOSE_REASONS", "CloseReason", "Opcode"]
