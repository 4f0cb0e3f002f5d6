"""Page sizes and opaque page tokens.

A token carries the offset of the next page and a fingerprint of the query
it belongs to (method, parent, filter, order); a token replayed with another
query is INVALID_ARGUMENT rather than silently paging through different
results.  Clients must treat tokens as opaque: the encoding may change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PageRequest:
    """A validated page request: where to start and how many items to return."""

    offset: int
    size: int
    fingerprint: str

    def next_token(self, returned: int, total: int) -> str:
        """The token of the page after this one, or '' when this page is the last."""
        following = self.offset + returned
        if returned == 0 or following >= total:
            return ""
        return _encode(following, self.fingerprint)


def _fingerprint(query: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(query).encode()).hexdigest()[:16]


def _encode(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "q": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_request(page_size: int, page_token: str, *query: str) -> PageRequest:
    """Validate ``page_size`` (0 means the default, above the maximum is capped) and ``page_token``."""
    if page_size < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative", reason="INVALID_PAGE_SIZE")
    size = DEFAULT_PAGE_SIZE if page_size == 0 else min(page_size, MAX_PAGE_SIZE)
    fingerprint = _fingerprint(query)
    if not page_token:
        return PageRequest(0, size, fingerprint)
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset, token_fingerprint = data["o"], data["q"]
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise InvalidArgument.for_field("page_token", "is not a token this service issued") from error
    if not isinstance(offset, int) or offset < 0 or token_fingerprint != fingerprint:
        raise InvalidArgument.for_field(
            "page_token", "belongs to another query; repeat the filter and order of the first page"
        )
    return PageRequest(offset, size, fingerprint)
