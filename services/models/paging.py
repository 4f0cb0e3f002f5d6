"""Page sizes and opaque page tokens.

A token carries where the next page starts, as the sort key of the last item
returned (keyset paging: items created or deleted meanwhile neither repeat
nor drop out of later pages, as they would with an offset), and a
fingerprint of the query it belongs to (method, parent, filter, order); a
token replayed with another query is INVALID_ARGUMENT rather than silently
paging through different results.  Clients must treat tokens as opaque: the
encoding may change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.models.store.query import SortKey
from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


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
    return hashlib.sha256("\x1f".join(query).encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        moment = datetime.fromisoformat(value["t"])
        if moment.tzinfo is None:
            raise ValueError("a sort key time without a zone")
        return moment
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise ValueError(f"unexpected sort key value {value!r}")


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
        padded = page_token + "=" * (-len(page_token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values, token_fingerprint = data["k"], data["q"]
        after = tuple(_decode_value(v) for v in values)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
        raise InvalidArgument.for_field("page_token", "is not a token this service issued") from error
    if not after or token_fingerprint != fingerprint:
        raise InvalidArgument.for_field(
            "page_token", "belongs to another query; repeat the filter and order of the first page"
        )
    return PageRequest(after, size, fingerprint)
