"""Update masks."""

from __future__ import annotations

import pytest

from services.models.masks import resolve_mask
from services.runtime.errors import InvalidArgument


def test_star_expands_and_map_keys_merge() -> None:
    mask = resolve_mask(["*"], mutable=("a", "labels"), immutable=("name",), maps=("labels",))
    assert mask.fields == {"a", "labels"}
    keyed = resolve_mask(["labels.team", "labels.gone"], mutable=("labels",), immutable=(), maps=("labels",))
    merged = keyed.merge_map("labels", {"team": "old", "gone": "x", "kept": "y"}, {"team": "new"})
    assert merged == {"team": "new", "kept": "y"}


def test_an_empty_mask_is_refused() -> None:
    with pytest.raises(InvalidArgument) as raised:
        resolve_mask([], mutable=("a",), immutable=())
    assert raised.value.violations[0].field == "update_mask"
