"""Conversions between messages and domain types."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from aiplat.models.v1 import model_pb2
from services.models import convert
from services.models.enums import ModelTask
from services.runtime.errors import InvalidArgument


@pytest.mark.parametrize(
    ("domain", "wrapper", "prefix"), convert.ENUMS, ids=lambda v: getattr(v, "__name__", "")
)
def test_every_enum_matches_its_protobuf_enum(domain: type[enum.Enum], wrapper: Any, prefix: str) -> None:
    assert {prefix + member.name for member in domain} == set(wrapper.keys())
    for member in domain:
        assert (
            convert.enum_in(wrapper, prefix, wrapper.Value(convert.enum_out(prefix, member)), domain, "f")
            is member
        )


def test_an_undefined_enum_number_names_the_field() -> None:
    with pytest.raises(InvalidArgument) as raised:
        convert.model_in(model_pb2.Model(task=99))
    assert raised.value.violations[0].field == "model.task"
    assert convert.model_in(model_pb2.Model(task=model_pb2.MODEL_TASK_TEXT)).task is ModelTask.TEXT
