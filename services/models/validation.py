"""Checks of client-supplied fields that several resources share.

Checks add to a :class:`Violations` collector instead of raising at the
first problem, so that one INVALID_ARGUMENT lists every bad field of a
request in its ``BadRequest`` details.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sized

from services.runtime.errors import FieldViolation, InvalidArgument

MAX_DISPLAY_NAME = 128
MAX_DESCRIPTION = 4096
MAX_LABEL = 63
MAX_LABELS = 64
"""Labels per model, version or deployment."""
MAX_METRICS = 256
"""Metrics per version."""
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")
_TRAINING_JOB = re.compile(r"trainingJobs/[a-z][a-z0-9-]{0,62}")


MAX_VIOLATIONS = 20
"""Field violations one error lists; the message counts the rest.  With :func:`shown` this keeps an
error a few KiB at most, well inside the 16 KiB of trailers gRPC clients accept."""
_SHOWN_CHARACTERS = 64


def shown(value: str) -> str:
    """``value`` quoted for an error, cut short: an error must stay small whatever the client sent."""
    if len(value) <= _SHOWN_CHARACTERS:
        return repr(value)
    return f"{value[:_SHOWN_CHARACTERS]!r}... ({len(value)} characters)"


class Violations:
    """Collects field violations; :meth:`raise_if_any` turns them into one INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []
        self._count = 0

    def __repr__(self) -> str:
        return f"Violations({self._items!r}, count={self._count})"

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(self, field: str, description: str) -> None:
        self._count += 1
        if len(self._items) < MAX_VIOLATIONS:
            self._items.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if not self._items:
            return
        summary = "; ".join(f"{item.field}: {item.description}" for item in self._items[:3])
        more = f" (and {self._count - 3} more)" if self._count > 3 else ""
        raise InvalidArgument(f"invalid request: {summary}{more}", violations=self._items)


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    """Whether ``value`` holds control characters (PostgreSQL refuses NUL in text); ``multiline``
    allows tabs and line breaks."""
    allowed = "\t\n\r" if multiline else ""
    return any((ord(char) < 32 or char == "\x7f") and char not in allowed for char in value)


def check_printable(violations: Violations, field: str, value: str, *, multiline: bool = False) -> None:
    if has_control_characters(value, multiline=multiline):
        violations.add(field, "must not contain control characters")


def check_text(
    violations: Violations, field: str, value: str, max_length: int, *, multiline: bool = True
) -> None:
    if len(value) > max_length:
        violations.add(field, f"at most {max_length} characters, got {len(value)}")
    else:
        check_printable(violations, field, value, multiline=multiline)


def check_count(violations: Violations, field: str, items: Sized, limit: int, what: str) -> bool:
    """Whether ``items`` are at most ``limit``; else one violation, and the items are not worth checking."""
    if len(items) <= limit:
        return True
    violations.add(field, f"at most {limit} {what}, got {len(items)}")
    return False


def is_label_key(key: str) -> bool:
    """Whether ``key`` is a valid label key."""
    return _LABEL_KEY.fullmatch(key) is not None


def is_metric_name(name: str) -> bool:
    """Whether ``name`` is a valid metric name."""
    return _METRIC_NAME.fullmatch(name) is not None


def check_labels(violations: Violations, field: str, labels: Mapping[str, str]) -> None:
    if not check_count(violations, field, labels, MAX_LABELS, "labels"):
        return
    for key, value in labels.items():
        # Keys appear in filters as `labels.<key>`, so they are restricted to filter-safe characters.
        if not is_label_key(key):
            violations.add(
                f"{field}[{shown(key)}]",
                "keys are 1-63 lower-case letters, digits, '_' or '-', starting with a letter",
            )
        if len(value) > MAX_LABEL or has_control_characters(value):
            violations.add(f"{field}[{shown(key)}]", "values are at most 63 printable characters")


def check_metrics(violations: Violations, field: str, metrics: Mapping[str, float]) -> None:
    if not check_count(violations, field, metrics, MAX_METRICS, "metrics"):
        return
    for name, value in metrics.items():
        if not is_metric_name(name):
            violations.add(f"{field}[{shown(name)}]", "names are 1-63 letters, digits, '_', '.' or '-'")
        # JSON (and so the store) has no NaN or infinity.
        if not math.isfinite(value):
            violations.add(f"{field}[{shown(name)}]", "must be a finite number")


def check_sha256(violations: Violations, field: str, value: str) -> None:
    if not _SHA256.fullmatch(value):
        violations.add(field, "must be 64 lower-case hexadecimal digits")


def check_training_job(violations: Violations, field: str, value: str) -> None:
    if value and not _TRAINING_JOB.fullmatch(value):
        violations.add(field, "must have the form trainingJobs/{job}")
