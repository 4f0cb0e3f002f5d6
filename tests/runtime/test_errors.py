"""Domain errors: codes, stable reasons, readable reprs."""

from __future__ import annotations

import pytest

from services.runtime.errors import (
    Aborted,
    AlreadyExists,
    Code,
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)


@pytest.mark.parametrize(
    ("error_class", "code"),
    [
        (InvalidArgument, Code.INVALID_ARGUMENT),
        (NotFound, Code.NOT_FOUND),
        (AlreadyExists, Code.ALREADY_EXISTS),
        (FailedPrecondition, Code.FAILED_PRECONDITION),
        (PermissionDenied, Code.PERMISSION_DENIED),
        (Unauthenticated, Code.UNAUTHENTICATED),
        (ResourceExhausted, Code.RESOURCE_EXHAUSTED),
        (Aborted, Code.ABORTED),
        (Unavailable, Code.UNAVAILABLE),
        (DeadlineExceeded, Code.DEADLINE_EXCEEDED),
    ],
)
def test_each_error_has_its_canonical_code_and_a_default_reason(
    error_class: type[DomainError], code: Code
) -> None:
    error = error_class("went wrong")
    assert error.code == code
    assert error.reason == code.name


def test_repr_shows_reason_metadata_and_violations() -> None:
    error = InvalidArgument(
        "bad model",
        reason="MODEL_INVALID",
        violations=[FieldViolation("model_id", "too long")],
        metadata={"model": "models/x"},
    )
    assert repr(error) == (
        "InvalidArgument('bad model', reason='MODEL_INVALID', metadata={'model': 'models/x'}, "
        "violations=[FieldViolation(field='model_id', description='too long', reason='')])"
    )
    assert str(error) == "bad model"


@pytest.mark.parametrize("reason", ["model not found", "modelNotFound", "_LEADING", "TRAILING_", "X" * 64])
def test_reasons_must_be_upper_snake_case(reason: str) -> None:
    with pytest.raises(ValueError, match="UPPER_SNAKE_CASE"):
        NotFound("no such model", reason=reason)


def test_for_field_builds_a_single_violation() -> None:
    error = InvalidArgument.for_field("page_size", "must be at most 1000")
    assert error.violations == (FieldViolation("page_size", "must be at most 1000"),)
