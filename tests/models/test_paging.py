"""Page sizes and tokens."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from services.models import paging
from services.runtime.errors import InvalidArgument


def test_sizes_default_and_cap() -> None:
    assert paging.page_request(0, "", "q").size == 50
    assert paging.page_request(5000, "", "q").size == 1000
    with pytest.raises(InvalidArgument):
        paging.page_request(-1, "", "q")


def test_a_token_carries_the_sort_key_of_the_last_item_for_the_same_query_only() -> None:
    first = paging.page_request(10, "", "models", "filter")
    assert first.after is None
    last = (datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC), "fraud", 7)
    token = first.next_token(last)
    assert paging.page_request(10, token, "models", "filter").after == last
    assert first.next_token(None) == ""
    with pytest.raises(InvalidArgument):
        paging.page_request(10, token, "models", "other filter")


def _forged(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "eyJvIjotMX0",  # an offset token of an earlier release
        _forged({"k": [], "q": "x"}),
        _forged({"k": [1.5], "q": "x"}),
        _forged({"k": [True], "q": "x"}),
        _forged({"k": [{"t": "yesterday"}], "q": "x"}),
        _forged({"k": [{"t": "2026-11-25T12:00:00"}], "q": "x"}),
        _forged({"k": [[1]], "q": "x"}),
    ],
)
def test_tokens_it_did_not_issue_are_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        paging.page_request(10, token, "models", "filter")
    assert [v.field for v in raised.value.violations] == ["page_token"]
