"""Where token signing keys come from: a local JWKS file or the identity provider's JWKS URL.

Both sources hand out immutable :class:`KeySnapshot` objects; a snapshot's
``generation`` changes whenever the keys change, which is how the token
verifier knows to forget tokens it verified against keys that were rotated out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt

from services.runtime.errors import Unavailable

_log = logging.getLogger(__name__)

# Asymmetric algorithms only: accepting HS* would let anyone holding the
# public key (it is public) mint tokens.
SUPPORTED_ALGORITHMS = frozenset({"RS256", "ES256"})


@dataclass(frozen=True)
class KeySnapshot:
    """The signing keys known at one moment, by key id."""

    generation: int
    keys: Mapping[str, jwt.PyJWK] = field(repr=False)

    def find(self, kid: str | None) -> jwt.PyJWK | None:
        """The key named ``kid``; a token without ``kid`` matches only a set of exactly one key."""
        if kid is None:
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)


class KeySet(Protocol):
    """A source of signing keys."""

    async def snapshot(self) -> KeySnapshot:
        """The current keys, reloading them first if the source says they changed."""
        ...

    async def refresh_for_unknown_kid(self) -> KeySnapshot:
        """The keys after a reload triggered by a token naming an unknown key (rate-limited)."""
        ...


def parse_jwks(document: bytes | str) -> dict[str, jwt.PyJWK]:
    """Parse a JWKS document, keeping the usable signature keys by key id."""
    data: Any = json.loads(document)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS document is an object with a 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for index, entry in enumerate(data["keys"]):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError as error:
            # One odd key (an algorithm we do not support) must not hide the others.
            _log.warning("skipping JWKS key %d: %s", index, error)
            continue
        if key.algorithm_name not in SUPPORTED_ALGORITHMS:
            continue
        keys[str(entry.get("kid", f"#{index}"))] = key
    return keys


class FileKeySet:
    """Keys from a JWKS file, re-read whenever the file's size, mtime or inode change.

    The check is one ``stat``, at most every ``check_interval_seconds`` (0:
    on every call), so a rotated development key (``aiplat up`` rewrites the
    file) takes effect without a restart.  A token naming a key not yet known
    checks at once, so a new key is picked up without waiting for the interval.
    """

    def __init__(
        self, path: Path, *, check_interval_seconds: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._path = path
        self._interval = check_interval_seconds
        self._clock = clock
        self._checked_at = 0.0
        self._signature: tuple[int, int, int] | None = None
        self._snapshot: KeySnapshot | None = None

    def __repr__(self) -> str:
        return f"FileKeySet({str(self._path)!r})"

    async def snapshot(self) -> KeySnapshot:
        now = self._clock()
        if self._snapshot is not None and now - self._checked_at < self._interval:
            # A stat per call is a syscall that gives up the GIL on the hot path of every RPC.
            return self._snapshot
        self._checked_at = now
        return self._check()

    def _check(self) -> KeySnapshot:
        try:
            stat = self._path.stat()
        except OSError as error:
            return self._keep_or_fail(error)
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._snapshot is not None and signature == self._signature:
            return self._snapshot
        try:
            keys = parse_jwks(self._path.read_bytes())
        except (OSError, ValueError) as error:
            return self._keep_or_fail(error)
        generation = 1 if self._snapshot is None else self._snapshot.generation + 1
        self._snapshot = KeySnapshot(generation, keys)
        self._signature = signature
        _log.info("loaded %d signing keys from %s", len(keys), self._path)
        return self._snapshot

    async def refresh_for_unknown_kid(self) -> KeySnapshot:
        self._checked_at = self._clock()
        return self._check()

    def _keep_or_fail(self, error: Exception) -> KeySnapshot:
        # Keep serving with the last good keys while the file is briefly unreadable.
        if self._snapshot is not None:
            _log.warning("cannot reload JWKS file %s, keeping the previous keys: %s", self._path, error)
            return self._snapshot
        raise Unavailable("signing keys are not available", reason="JWKS_UNAVAILABLE") from error


class UrlKeySet:
    """Keys fetched from a JWKS URL, refreshed every ``refresh_seconds``.

    A token naming an unknown key triggers an early refresh, at most once per
    ``min_refresh_seconds`` so that garbage tokens cannot hammer the provider.
    The fetch runs in a worker thread to keep the event loop free.
    """

    def __init__(
        self,
        url: str,
        *,
        refresh_seconds: float = 300.0,
        min_refresh_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._url = url
        self._refresh_seconds = refresh_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._timeout_seconds = timeout_seconds
        self._snapshot: KeySnapshot | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"UrlKeySet({self._url!r})"

    async def snapshot(self) -> KeySnapshot:
        if self._snapshot is not None and time.monotonic() - self._fetched_at < self._refresh_seconds:
            return self._snapshot
        return await self._refresh(min_age=self._refresh_seconds)

    async def refresh_for_unknown_kid(self) -> KeySnapshot:
        return await self._refresh(min_age=self._min_refresh_seconds)

    async def _refresh(self, *, min_age: float) -> KeySnapshot:
        async with self._lock:
            # Another caller may have refreshed while this one waited for the lock.
            if self._snapshot is not None and time.monotonic() - self._fetched_at < min_age:
                return self._snapshot
            try:
                keys = parse_jwks(await asyncio.to_thread(self._fetch))
            except (OSError, ValueError) as error:
                self._fetched_at = time.monotonic()
                if self._snapshot is not None:
                    _log.warning(
                        "cannot refresh JWKS from %s, keeping the previous keys: %s", self._url, error
                    )
                    return self._snapshot
                raise Unavailable("signing keys are not available", reason="JWKS_UNAVAILABLE") from error
            generation = 1 if self._snapshot is None else self._snapshot.generation + 1
            self._snapshot = KeySnapshot(generation, keys)
            self._fetched_at = time.monotonic()
            return self._snapshot

    def _fetch(self) -> bytes:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self._timeout_seconds) as response:
            body: bytes = response.read()
            return body
