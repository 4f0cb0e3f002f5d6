"""Page sizes and tokens."""

from __future__ import annotations

import pytest

from services.models import paging
from services.runtime.errors import InvalidArgument


def test_sizes_default_and_cap() -> None:
    assert paging.page_request(0, "", "q").size == 50
    assert paging.page_request(5000, "", "q").size == 1000
    with pytest.raises(InvalidArgument):
        paging.page_request(-1, "", "q")


def test_tokens_continue_the_same_query_only() -> None:
    first = paging.page_request(10, "", "models", "filter")
    token = first.next_token(returned=10, total=25)
    assert paging.page_request(10, token, "models", "filter").offset == 10
    assert first.next_token(returned=10, total=10) == ""
    with pytest.raises(InvalidArgument):
        paging.page_request(10, token, "models", "other filter")
    with pytest.raises(InvalidArgument):
        paging.page_request(10, "eyJvIjotMX0", "models", "filter")
