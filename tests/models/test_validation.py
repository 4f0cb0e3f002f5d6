"""Shared field checks: every error stays small, whatever the size of the request."""

from __future__ import annotations

import pytest

from services.models.validation import MAX_VIOLATIONS, Violations, check_labels, check_metrics, shown
from services.runtime.errors import Code, FieldViolation, InvalidArgument


def _raised(violations: Violations) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        violations.raise_if_any()
    return raised.value


def test_too_many_labels_is_one_violation_however_bad_the_keys() -> None:
    violations = Violations()
    check_labels(violations, "model.labels", {f"K{index}": "v" for index in range(1000)})
    error = _raised(violations)
    assert error.code == Code.INVALID_ARGUMENT
    assert error.violations == (FieldViolation("model.labels", "at most 64 labels, got 1000"),)


def test_too_many_metrics_is_one_violation() -> None:
    violations = Violations()
    check_metrics(violations, "model_version.metrics", {f"?{index}": float("nan") for index in range(300)})
    assert _raised(violations).violations == (
        FieldViolation("model_version.metrics", "at most 256 metrics, got 300"),
    )


def test_a_long_key_is_shown_cut_short() -> None:
    violations = Violations()
    check_labels(violations, "model.labels", {"K" * 100_000: "v"})
    [violation] = _raised(violations).violations
    assert violation.field == f"model.labels[{'K' * 64!r}... (100000 characters)]"
    assert shown("fraud") == "'fraud'"


def test_an_error_lists_a_bounded_number_of_violations_and_counts_the_rest() -> None:
    violations = Violations()
    for index in range(MAX_VIOLATIONS + 5):
        violations.add(f"items[{index}]", "is wrong")
    error = _raised(violations)
    assert [v.field for v in error.violations] == [f"items[{index}]" for index in range(MAX_VIOLATIONS)]
    assert error.message.endswith(f"(and {MAX_VIOLATIONS + 2} more)")
