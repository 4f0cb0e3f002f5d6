"""Page sizes and opaque page tokens.

A token carries where the next page starts, as the sort key of the last item
returned (keyset paging: items created or deleted meanwhile neither repeat
nor drop out of later pages, as they would with an offset), and a
fingerprint of the query it belongs to (the caller's tenant, method, parent,
filter, order); a token replayed with another query, or by another tenant, is
INVALID_ARGUMENT rather than silently paging through different results.  The
page size is not part of it: AIP-158 lets a client change it between pages.
Clients must treat tokens as opaque: the encoding may change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.models.store.query import SortKey
from services.models.validation import has_control_characters
from services.runtime.auth import identity_or_none
from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_TOKEN_LENGTH = 4096
"""Longest page token accepted, in characters; the service's own stay under 3 KiB (a sort key is at most
a display name, two ids and two times)."""
_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class PageRequest:
    """A validated page request: after which item to start and how many items to return."""

    after: SortKey | None
    """The sort key of the last item of the previous page; None for the first page."""
    size: int
    fingerprint: str

    def next_token(self, last: SortKey | None) -> str:
        """The token of the page after the one that ended with the item ``last`` ('' when it was the last)."""
        return "" if last is None else _encode(last, self.fingerprint)


def _fingerprint(query: tuple[str, ...]) -> str:
    # The tenant is part of every query: its rows are the only ones the query can see.
    identity = identity_or_none()
    tenant = "" if identity is None else identity.tenant
    return hashlib.sha256("\x1f".join((tenant, *query)).encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode_time(value: dict[str, Any]) -> datetime:
    if value.keys() != {"t"} or not isinstance(value["t"], str):
        raise ValueError("unexpected sort key object")
    moment = datetime.fromisoformat(value["t"])
    if moment.tzinfo is None:
        raise ValueError("a sort key time without a zone")
    # The store compares in UTC; a time near year 1 or 9999 in another zone has no UTC (OverflowError).
    return moment.astimezone(UTC)


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return _decode_time(value)
    if isinstance(value, int) and not isinstance(value, bool):
        # Every integer sort column is a 64-bit integer; the drivers refuse to bind larger ones.
        if value not in _INT64:
            raise ValueError("sort key integer out of range")
        return value
    if isinstance(value, str):
        # JSON can spell what no column holds: NUL, other control characters, lone surrogates.
        if has_control_characters(value, multiline=True):
            raise ValueError("sort key text with control characters")
        value.encode()
        return value
    raise ValueError(f"unexpected sort key value {value!r}")


def _decode(page_token: str) -> tuple[SortKey, Any]:
    """The sort key and query fingerprint a token carries; ValueError (or another) when it is malformed."""
    if len(page_token) > MAX_TOKEN_LENGTH:
        raise ValueError("token too long")
    padded = page_token + "=" * (-len(page_token) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    values = data["k"]
    if not isinstance(values, list):
        raise ValueError("sort key is not a list")
    return tuple(_decode_value(value) for value in values), data["q"]


def _encode(last: Sequence[Any], fingerprint: str) -> str:
    raw = json.dumps({"k": [_encode_value(v) for v in last], "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def page_request(page_size: int, page_token: str, *query: str) -> PageRequest:
    """Validate ``page_size`` (0 means the default, above the maximum is capped) and ``page_token``."""
    if page_size < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative", reason="INVALID_PAGE_SIZE")
    size = DEFAULT_PAGE_SIZE if page_size == 0 else min(page_size, MAX_PAGE_SIZE)
    fingerprint = _fingerprint(query)
    if not page_token:
        return PageRequest(None, size, fingerprint)
    try:
        after, token_fingerprint = _decode(page_token)
    # RecursionError: deeply nested JSON; OverflowError: a time with no UTC equivalent.
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        binascii.Error,
        OverflowError,
        RecursionError,
    ) as error:
        raise InvalidArgument.for_field("page_token", "is not a token this service issued") from error
    if not after or token_fingerprint != fingerprint:
        raise InvalidArgument.for_field(
            "page_token", "belongs to another query; repeat the filter and order of the first page"
        )
    return PageRequest(after, size, fingerprint)
