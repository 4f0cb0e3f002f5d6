"""The filter language: what parses, into which tree, and what is refused."""

from __future__ import annotations

import pytest

from services.models import filtering
from services.models.enums import ModelTask
from services.models.filtering import And, Compare, Not, Or
from services.runtime.errors import InvalidArgument

FIELDS = {
    "display_name": filtering.FieldSpec("text"),
    "task": filtering.FieldSpec("enum", ModelTask, "MODEL_TASK_"),
    "labels": filtering.FieldSpec("labels"),
    "model": filtering.FieldSpec("model"),
}


def test_and_binds_tighter_than_or_and_values_are_converted() -> None:
    tree = filtering.parse_filter(
        'task = MODEL_TASK_IMAGE labels.team = "a b" OR NOT model = models/m', FIELDS
    )
    assert tree == Or(
        (
            And((Compare("task", "=", ModelTask.IMAGE), Compare("labels", "=", "a b", "team"))),
            Not(Compare("model", "=", "m")),
        )
    )


def test_parentheses_negation_and_presence() -> None:
    tree = filtering.parse_filter("-(labels.a:* AND display_name != 'x\\'y')", FIELDS)
    assert tree == Not(And((Compare("labels", "has", None, "a"), Compare("display_name", "!=", "x'y"))))
    assert filtering.parse_filter("   ", FIELDS) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("owner = bob", "unknown field 'owner'"),
        ("task = MODEL_TASK_NOPE", "must be one of"),
        ("labels.Team = x", "valid label key"),
        ("display_name.x = y", "no sub-fields"),
        ("display_name : x", "only supported as labels"),
        ("task =", "unexpected end"),
        ("(task = IMAGE", "expected ')'"),
        ("task = IMAGE)", "unexpected ')'"),
        ("model = fraud", "models/{model}"),
        ("display_name = x; DROP TABLE models", "unexpected character"),
        ('labels.team = "a\x00b"', "control characters"),
        ("(" * 20 + "task = IMAGE" + ")" * 20, "nested deeper"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_refuses_what_it_does_not_understand(text: str, expected: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        filtering.parse_filter(text, FIELDS)
    violation = raised.value.violations[0]
    assert violation.field == "filter"
    assert expected in violation.description
