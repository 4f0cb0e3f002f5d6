"""Domain errors: what the core raises, without knowing about gRPC.

Each error carries a canonical code, a stable machine-readable ``reason``
(UPPER_SNAKE_CASE, never reworded once clients depend on it), a message for
humans and string metadata.  :mod:`services.runtime.transport.errors` turns
them into ``google.rpc.Status`` with ``ErrorInfo`` and ``BadRequest`` details.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

ERROR_DOMAIN = "aiplat.dev"
"""The ``ErrorInfo.domain`` of every error raised by aiplat services."""

# AIP-193: reasons are at most 63 characters of [A-Z0-9_], starting with a letter.
_REASON = re.compile(r"^[A-Z][A-Z0-9_]{0,61}[A-Z0-9]$")


class Code(enum.IntEnum):
    """Canonical status codes, numbered as ``google.rpc.Code`` (and gRPC)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: becomes a ``google.rpc.BadRequest.FieldViolation``."""

    field: str
    """Path to the field, dotted and indexed as in AIP-193: ``model.labels[0].key``."""
    description: str
    """What is wrong and how to fix it, for humans."""
    reason: str = ""
    """Optional stable reason for this field (UPPER_SNAKE_CASE)."""


class DomainError(Exception):
    """Base class of the errors a service's core raises.

    Subclasses fix the code and a default reason; a raise site narrows the
    reason (``NotFound("...", reason="MODEL_NOT_FOUND")``) when clients need
    to tell cases apart.
    """

    code: ClassVar[Code] = Code.UNKNOWN
    default_reason: ClassVar[str] = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        resolved = reason if reason is not None else self.default_reason
        # Checked at the raise site: a malformed reason is a bug that would
        # otherwise reach clients as part of the public contract.
        if not _REASON.fullmatch(resolved):
            raise ValueError(f"error reason must be UPPER_SNAKE_CASE, got {resolved!r}")
        self.message = message
        self.reason = resolved
        self.metadata: dict[str, str] = dict(metadata or {})
        self.retry_after_seconds = retry_after_seconds

    @property
    def violations(self) -> tuple[FieldViolation, ...]:
        """Field violations; only :class:`InvalidArgument` has any."""
        return ()

    def __repr__(self) -> str:
        parts = [f"{self.message!r}", f"reason={self.reason!r}"]
        if self.metadata:
            parts.append(f"metadata={self.metadata!r}")
        if self.violations:
            parts.append(f"violations={list(self.violations)!r}")
        if self.retry_after_seconds is not None:
            parts.append(f"retry_after_seconds={self.retry_after_seconds!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __str__(self) -> str:
        return self.message


class InvalidArgument(DomainError):  # noqa: N818 - named after its canonical code
    """The request itself is wrong, whatever the state of the system."""

    code = Code.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        *,
        violations: Iterable[FieldViolation] = (),
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self._violations = tuple(violations)

    @property
    def violations(self) -> tuple[FieldViolation, ...]:
        return self._violations

    @classmethod
    def for_field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        """Shorthand for the common case of exactly one bad field."""
        return cls(f"{field}: {description}", violations=[FieldViolation(field, description)], reason=reason)


class NotFound(DomainError):  # noqa: N818 - named after its canonical code
    """The resource does not exist, or belongs to another tenant."""

    code = Code.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):  # noqa: N818 - named after its canonical code
    """A resource with that name already exists."""

    code = Code.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):  # noqa: N818 - named after its canonical code
    """The system is not in a state where the request can run (retrying will not help)."""

    code = Code.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class PermissionDenied(DomainError):  # noqa: N818 - named after its canonical code
    """The caller is known but may not do this."""

    code = Code.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):  # noqa: N818 - named after its canonical code
    """The caller could not be identified: no token, or a token that does not verify."""

    code = Code.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):  # noqa: N818 - named after its canonical code
    """A quota or a capacity limit is reached; ``retry_after_seconds`` says when to try again."""

    code = Code.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class Aborted(DomainError):  # noqa: N818 - named after its canonical code
    """A concurrency conflict (etag mismatch, lost transaction race); retry the whole operation."""

    code = Code.ABORTED
    default_reason = "ABORTED"


class Unavailable(DomainError):  # noqa: N818 - named after its canonical code
    """A dependency is unreachable right now; safe to retry with backoff."""

    code = Code.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(DomainError):  # noqa: N818 - named after its canonical code
    """The work did not finish within the caller's deadline."""

    code = Code.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"
