"""Client reconnect policy: which closes to retry, and how long to wait (computed in Rust)."""

from ._wsmachine import Backoff, plan, should_reconnect

__all__ = ["Backoff", "plan", "should_reconnect"]
