"""The service's notion of now: aware UTC datetimes, injectable for tests.

A write reads the clock inside its transaction, after its row locks: a change
that waited for another then records a later time than it, so audit events
sorted by time follow the order in which the changes committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
