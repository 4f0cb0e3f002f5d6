"""Checks of client-supplied fields that several resources share.

Checks add to a :class:`Violations` collector instead of raising at the
first problem, so that one INVALID_ARGUMENT lists every bad field of a
request in its ``BadRequest`` details.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from services.runtime.errors import FieldViolation, InvalidArgument

MAX_DISPLAY_NAME = 128
MAX_DESCRIPTION = 4096
MAX_LABEL = 63
MAX_LABELS = 64
MAX_METRICS = 256
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")
_TRAINING_JOB = re.compile(r"trainingJobs/[a-z][a-z0-9-]{0,62}")


class Violations:
    """Collects field violations; :meth:`raise_if_any` turns them into one INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def __repr__(self) -> str:
        return f"Violations({self._items!r})"

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if not self._items:
            return
        summary = "; ".join(f"{item.field}: {item.description}" for item in self._items[:3])
        more = f" (and {len(self._items) - 3} more)" if len(self._items) > 3 else ""
        raise InvalidArgument(f"invalid request: {summary}{more}", violations=self._items)


def check_text(violations: Violations, field: str, value: str, max_length: int) -> None:
    if len(value) > max_length:
        violations.add(field, f"at most {max_length} characters, got {len(value)}")
    elif any(ord(char) < 32 and char not in "\t\n\r" for char in value):
        violations.add(field, "must not contain control characters")


def check_labels(violations: Violations, field: str, labels: Mapping[str, str]) -> None:
    if len(labels) > MAX_LABELS:
        violations.add(field, f"at most {MAX_LABELS} labels, got {len(labels)}")
    for key, value in labels.items():
        # Keys appear in filters as `labels.<key>`, so they are restricted to filter-safe characters.
        if not _LABEL_KEY.fullmatch(key):
            violations.add(
                f"{field}[{key!r}]",
                "keys are 1-63 lower-case letters, digits, '_' or '-', starting with a letter",
            )
        if len(value) > MAX_LABEL or any(ord(char) < 32 for char in value):
            violations.add(f"{field}[{key!r}]", "values are at most 63 printable characters")


def check_metrics(violations: Violations, field: str, metrics: Mapping[str, float]) -> None:
    if len(metrics) > MAX_METRICS:
        violations.add(field, f"at most {MAX_METRICS} metrics, got {len(metrics)}")
    for name, value in metrics.items():
        if not _METRIC_NAME.fullmatch(name):
            violations.add(f"{field}[{name!r}]", "names are 1-63 letters, digits, '_', '.' or '-'")
        # JSON (and so the store) has no NaN or infinity.
        if not math.isfinite(value):
            violations.add(f"{field}[{name!r}]", "must be a finite number")


def check_sha256(violations: Violations, field: str, value: str) -> None:
    if not _SHA256.fullmatch(value):
        violations.add(field, "must be 64 lower-case hexadecimal digits")


def check_training_job(violations: Violations, field: str, value: str) -> None:
    if value and not _TRAINING_JOB.fullmatch(value):
        violations.add(field, "must have the form trainingJobs/{job}")
