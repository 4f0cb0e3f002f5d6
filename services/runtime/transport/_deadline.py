"""The deadline of the call being served, so that outgoing calls never outlive it."""

from __future__ import annotations

import contextvars
import time

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("aiplat_deadline", default=None)


def set_deadline(time_remaining: float | None) -> contextvars.Token[float | None]:
    """Record the incoming call's remaining time (None: no deadline) as a monotonic instant."""
    return _deadline.set(None if time_remaining is None else time.monotonic() + time_remaining)


def reset_deadline(token: contextvars.Token[float | None]) -> None:
    """Undo :func:`set_deadline`."""
    _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left of the incoming call's deadline, or None outside a call or without one."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())
