"""Page sizes and tokens."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.models import paging
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import Code, InvalidArgument


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


def _keyed(key: object) -> str:
    """A token for the tested query (its fingerprint is no secret) carrying ``key``."""
    return _forged({"k": key, "q": paging.page_request(10, "", "models", "filter").fingerprint})


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
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),
        _keyed({"a": "b"}),
        _keyed([2**63]),
        _keyed([-(2**63) - 1]),
        _keyed([{"t": "0001-01-01T00:00:00+05:00"}]),
        _keyed([{"t": "9999-12-31T23:59:59-05:00"}]),
        _keyed([{"t": "2026-11-25T12:00:00+00:00", "x": 1}]),
        _keyed(["fr\u0000aud"]),
        _keyed(["\ud800"]),
        _keyed(["x" * paging.MAX_TOKEN_LENGTH]),
    ],
)
def test_tokens_it_did_not_issue_are_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        paging.page_request(10, token, "models", "filter")
    assert raised.value.code == Code.INVALID_ARGUMENT
    assert [v.field for v in raised.value.violations] == ["page_token"]


def test_a_time_in_another_zone_is_read_as_the_same_moment_in_utc() -> None:
    token = _keyed([{"t": "2026-11-25T17:00:00+05:00"}, "fraud"])
    after = paging.page_request(10, token, "models", "filter").after
    assert after == (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "fraud")
    assert after is not None
    assert after[0].utcoffset() == timedelta(0)


def test_a_token_is_bound_to_the_tenant_it_was_issued_to() -> None:
    def as_tenant(tenant: str, token: str) -> paging.PageRequest:
        with bind_identity(Identity(subject="alice", tenant=tenant, roles=frozenset({Role.EDITOR}))):
            return paging.page_request(10, token, "models", "filter")

    token = as_tenant("acme", "").next_token(("fraud",))
    assert as_tenant("acme", token).after == ("fraud",)
    with pytest.raises(InvalidArgument) as raised:
        as_tenant("globex", token)
    assert [v.field for v in raised.value.violations] == ["page_token"]
