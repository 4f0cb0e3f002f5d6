"""Model artifacts fetched once into a local, content-addressed cache.

Any fsspec URL works (``file://``, ``s3://``, ...).  A file is stored as
``<sha256>.onnx`` only after the bytes written hash to the checksum the
registry recorded.  :meth:`ArtifactCache.fetch` hands out a
:class:`CachedArtifact`, a path whose :meth:`~CachedArtifact.read_verified`
reads the file once and checks those very bytes against the checksum: a
session is built from them, never from the path, so a file that changes
between the check and the load (disk corruption, another process) is never
what runs.  A copy found corrupt is fetched again.  :meth:`ArtifactCache.opened`
reads it once for all the instances of a version.  Once cached, loading
needs no network: versions keep loading and serving while the artifact store
is unreachable.

Several worker processes may share the directory: a download runs under an
``flock`` of ``<sha256>.onnx.lock``, so each artifact is downloaded once, and
the partial files a crashed download left are removed by the next one.

A cache with a size limit makes room before each download: it removes the
least recently used artifacts (fetched or read longest ago: a use touches the
file's mtime) until the cached files, the downloads in progress and the
incoming artifact fit.  Processes sharing the directory make room one at a
time, under an ``flock`` of ``.room.lock``, and each download in progress
reserves its bytes in ``<sha256>.onnx.reserved`` until its file takes its
place, so the downloads of several workers together stay within the limit; a
reservation whose download holds no lock (its process died) is removed.  The
cache never removes an artifact that its users protect
(:meth:`ArtifactCache.protect`: the repository's loaded and loading versions),
nor a ``.part``, ``.lock``, ``.pin`` or ``.reserved`` file, and removes an
artifact only under its ``flock``, skipping one whose lock is held (it is
being fetched).  Worker processes sharing the directory tell each other what
they need through ``<sha256>.onnx.pin``: each holds a shared ``flock`` of the
pins of what it protects (:meth:`ArtifactCache.pin`), and an artifact is
evicted only under an exclusive one, so never while another process needs it.
An artifact that cannot fit even so fails with reason ``CACHE_FULL``, which is
retried: a version that unloads leaves room.
When the artifact store cannot tell the size, the room is made once the
download is complete, before it takes its place.

A cache that cannot be used (its disk full, read-only, or not permitted)
fails the load with reason ``CACHE_UNAVAILABLE``, naming the directory, so it
is not mistaken for an unreachable artifact store; both are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Set
from pathlib import Path, PosixPath

from services.inference.cache_files import (
    CacheEntry,
    download,
    file_lock,
    file_size,
    gib,
    in_cache,
    list_entries,
    read_file,
    remote_size,
    shared_lock,
    touch,
    verified,
)
from services.inference.errors import CACHE_FULL, ArtifactError

__all__ = ["ArtifactCache", "CachedArtifact", "ProtectedArtifacts"]

_log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_READ_ATTEMPTS = 3
"""Reads of a cached artifact, each after fetching it again, before its corruption is an error."""

ProtectedArtifacts = Callable[[], Set[str]]
"""The checksums of the cached artifacts a user of the cache needs kept; called from worker threads,
so it must be safe to call from any thread."""


class ArtifactCache:
    """Fetches and verifies artifacts into ``directory``, keeping them within ``limit_bytes``.

    ``limit_bytes``: most the cached artifacts may take, in bytes; 0: unbounded (nothing is evicted).
    """

    def __init__(self, directory: Path, *, limit_bytes: int = 0) -> None:
        if limit_bytes < 0:
            raise ValueError(f"the cache's limit must be 0 (unbounded) or positive, not {limit_bytes}")
        self.directory = directory
        self.limit_bytes = limit_bytes
        self._fetching: dict[str, asyncio.Future[CachedArtifact]] = {}
        self._protectors: list[ProtectedArtifacts] = []
        self._room = threading.Lock()
        """Held while making room, so that two downloads of this process never count on the same room."""
        self._reserved: dict[str, int] = {}
        """Bytes of this process's downloads in progress, by checksum, counted as cached (under _room)."""
        self._pins: dict[str, int] = {}
        """The descriptors holding this process's pins, by checksum (see :meth:`pin`)."""

    def __repr__(self) -> str:
        return f"ArtifactCache({str(self.directory)!r}, limit_bytes={self.limit_bytes})"

    def protect(self, needed: ProtectedArtifacts) -> None:
        """Never evict an artifact whose checksum ``needed()`` returns; asked at every eviction."""
        self._protectors.append(needed)

    def pin(self, checksums: Set[str]) -> None:
        """Hold exactly ``checksums`` against the evictions of other processes sharing the directory
        (a shared ``flock`` of each one's pin), releasing the others; a cache without a limit evicts
        nothing and pins nothing.  Called on the event loop when what this process needs changes.

        Best effort: a pin that cannot be taken (the cache unusable) is logged, and the load that
        needs the artifact reports the cache's fault.
        """
        if not self.limit_bytes:
            return
        wanted = {sha256.lower() for sha256 in checksums}
        for released in self._pins.keys() - wanted:
            os.close(self._pins.pop(released))
            if not self.path_for(released).exists():
                # The pin of an artifact never cached (its load failed) would otherwise stay for good;
                # eviction removes the others'.  Left alone while another process holds it.
                with contextlib.suppress(ArtifactError), file_lock(self._pin_path(released), wait=False):
                    pass
        for sha256 in sorted(wanted - self._pins.keys()):
            try:
                in_cache(self.directory, self.directory.mkdir, parents=True, exist_ok=True)
                self._pins[sha256] = in_cache(self.directory, shared_lock, self._pin_path(sha256))
            except ArtifactError as error:
                _log.warning(
                    "cannot pin a cached artifact against other processes' evictions: %s",
                    error,
                    extra={"sha256": sha256, "cache": str(self.directory)},
                )

    def path_for(self, sha256: str) -> Path:
        """Where the artifact with that checksum is cached."""
        return self.directory / f"{sha256}.onnx"

    async def fetch(self, uri: str, sha256: str) -> CachedArtifact:
        """The verified local copy of ``uri``; fetched unless already cached.

        Raises :class:`ArtifactError` with reason ``CHECKSUM_MISMATCH`` or
        ``ARTIFACT_UNAVAILABLE``.  Concurrent fetches of one checksum share
        one download.  Open what it returns with
        :meth:`~CachedArtifact.read_verified`, never by its path.
        """
        expected = sha256.lower()
        if not _SHA256.fullmatch(expected):
            raise ArtifactError(f"{sha256!r} is not a SHA-256 hex digest", reason="CHECKSUM_MISMATCH")
        pending = self._fetching.get(expected)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self._fetch, uri, expected))
            self._fetching[expected] = pending
            pending.add_done_callback(lambda _: self._fetching.pop(expected, None))
        return await asyncio.shield(pending)

    @contextlib.asynccontextmanager
    async def opened(self, uri: str, sha256: str) -> AsyncIterator[CachedArtifact]:
        """The artifact fetched (:meth:`fetch`) and read once, verified, for as long as the block lasts:
        every :meth:`~CachedArtifact.read_verified` of what it yields returns those bytes.

        So the instances of a version share one read, one hash and one copy of the model in memory,
        and a read that fails (the copy gone bad and the store unreachable) fails with its own reason
        before any session opens.
        """
        artifact = await self.fetch(uri, sha256)
        # A copy of its own: concurrent fetches of one checksum share the artifact fetch returns.
        held = CachedArtifact.of(self, uri, sha256.lower())
        held._held = await asyncio.to_thread(artifact.read_verified)
        try:
            yield held
        finally:
            held._held = None

    def read(self, uri: str, sha256: str) -> bytes:
        """The bytes of the cached artifact, read once and hashed; blocking (call it in a thread).

        A copy that does not hash to ``sha256`` (or is gone) is fetched again, so what is returned is
        always the artifact.  Raises :class:`ArtifactError` as :meth:`fetch` does.
        """
        target = self.path_for(sha256)
        for attempt in range(_READ_ATTEMPTS):
            if attempt:
                self._fill(uri, sha256)
            data = in_cache(self.directory, read_file, target)
            if data is not None and hashlib.sha256(data).hexdigest() == sha256:
                touch(target)
                return data
            state = "gone" if data is None else "corrupt"
            del data  # not held while the artifact is fetched again
            _log.warning(
                "cached artifact %s is %s when read",
                target,
                state,
                extra={"uri": uri, "sha256": sha256, "attempt": attempt + 1},
            )
        raise ArtifactError(
            f"the cached copy of {uri} keeps changing after it is verified; "
            f"something else writes to the artifact cache {self.directory}",
            reason="CHECKSUM_MISMATCH",
            metadata={"uri": uri, "expected": sha256, "cache": str(self.directory)},
        )

    def _fetch(self, uri: str, sha256: str) -> CachedArtifact:
        self._fill(uri, sha256)
        return CachedArtifact.of(self, uri, sha256)

    def _fill(self, uri: str, sha256: str) -> None:
        """Make the cached copy hash to ``sha256``, downloading it unless it already does."""
        target = self.path_for(sha256)
        if in_cache(self.directory, verified, target, sha256):
            touch(target)
            return
        in_cache(self.directory, self.directory.mkdir, parents=True, exist_ok=True)
        with file_lock(self._lock_path(sha256)):
            # Another process may have fetched it while this one waited.
            if in_cache(self.directory, verified, target, sha256):
                touch(target)
                return
            # Whoever wrote these held this lock and is gone (a crash): they are garbage.
            for stale in self.directory.glob(f"{target.name}.*.part"):
                stale.unlink(missing_ok=True)
            incoming = remote_size(uri) if self.limit_bytes else None
            if incoming is not None:
                self._make_room(uri, sha256, incoming)
            partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
            try:
                digest = download(uri, partial, self.directory)
                if digest != sha256:
                    raise ArtifactError(
                        f"artifact {uri} has SHA-256 {digest}, the registry recorded {sha256}",
                        reason="CHECKSUM_MISMATCH",
                        metadata={"uri": uri, "expected": sha256, "actual": digest},
                    )
                if self.limit_bytes and incoming is None:
                    # The store could not tell the size: make room now, before the file takes its place.
                    self._make_room(uri, sha256, in_cache(self.directory, os.path.getsize, partial))
                with self._room, self._room_of_every_process():
                    # Replaces a corrupted copy in one step: a reader sees the old file or the new one.
                    in_cache(self.directory, os.replace, partial, target)
                    # In the same step as its file appears, or another download making room meanwhile
                    # would count the artifact twice, as cached and as reserved.
                    self._release(sha256)
            finally:
                partial.unlink(missing_ok=True)
                with self._room:
                    self._release(sha256)

    def _make_room(self, uri: str, sha256: str, incoming: int) -> None:
        """Evict the least recently used unprotected artifacts until ``incoming`` more bytes fit, and
        reserve them; raise ``CACHE_FULL`` when they cannot (evicting nothing when the protected
        artifacts alone leave no room)."""
        with self._room, self._room_of_every_process():
            entries = [
                e for e in in_cache(self.directory, list_entries, self.directory) if e.sha256 != sha256
            ]
            reserved = sum(size for other, size in self._reserved.items() if other != sha256)
            reserved += self._reserved_elsewhere(sha256)
            total = reserved + sum(e.size for e in entries)
            if total + incoming > self.limit_bytes:
                needed = self._protected()
                held = reserved + sum(e.size for e in entries if e.sha256 in needed)
                if held + incoming > self.limit_bytes:
                    raise self._full(uri, incoming, held)
                for entry in sorted((e for e in entries if e.sha256 not in needed), key=lambda e: e.used_ns):
                    if total + incoming <= self.limit_bytes:
                        break
                    total -= self._evict(entry, sha256)
                if total + incoming > self.limit_bytes:
                    # What was left is being fetched or became needed meanwhile.
                    raise self._full(uri, incoming, total)
            self._reserved[sha256] = incoming
            in_cache(self.directory, self._reservation_path(sha256).write_text, str(incoming))

    def _room_of_every_process(self) -> contextlib.AbstractContextManager[bool]:
        """Held, with ``_room``, while making room or ending a reservation: one process at a time.
        A cache without a limit reserves nothing, and needs no such lock."""
        if not self.limit_bytes:
            return contextlib.nullcontext(True)
        return file_lock(self.directory / ".room.lock")

    def _reserved_elsewhere(self, incoming: str) -> int:
        """Bytes reserved by other processes' downloads in progress; the reservations of downloads
        that hold no lock (their process died) are removed.  Called making room."""
        total = 0
        reservations: list[Path] = in_cache(self.directory, list, self.directory.glob("*.onnx.reserved"))
        for path in reservations:
            sha256 = path.name.removesuffix(".onnx.reserved")
            if sha256 == incoming or sha256 in self._reserved:
                continue
            with file_lock(self._lock_path(sha256), wait=False) as free:
                if free:
                    path.unlink(missing_ok=True)
                    continue
            try:
                total += int(path.read_text())
            except (OSError, ValueError):
                continue  # its download ended meanwhile
        return total

    def _release(self, sha256: str) -> None:
        """End this process's reservation for ``sha256``, if it has one (under ``_room``)."""
        if self._reserved.pop(sha256, None) is not None:
            self._reservation_path(sha256).unlink(missing_ok=True)

    def _reservation_path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.onnx.reserved"

    def _evict(self, entry: CacheEntry, incoming: str) -> int:
        """Remove ``entry`` under its lock and its pin's; the bytes that freed (0 when it is fetched
        or needed now, here or by another process)."""
        with (
            file_lock(self._lock_path(entry.sha256), wait=False) as locked,
            file_lock(self._pin_path(entry.sha256), wait=False) as unpinned,
        ):
            if not (locked and unpinned) or entry.sha256 in self._protected():
                return 0
            size = in_cache(self.directory, file_size, entry.path)
            if size is None:
                return entry.size  # removed by another process meanwhile
            in_cache(self.directory, entry.path.unlink, missing_ok=True)
        _log.info(
            "evicted cached artifact %s to make room",
            entry.path,
            extra={
                "event": "artifact_evicted",
                "sha256": entry.sha256,
                "size_bytes": size,
                "unused_seconds": round(max(0.0, time.time() - entry.used_ns / 1e9), 1),
                "for_sha256": incoming,
                "cache": str(self.directory),
                "limit_bytes": self.limit_bytes,
            },
        )
        return size

    def _lock_path(self, sha256: str) -> Path:
        """Held by whoever downloads or evicts the artifact."""
        return self.directory / f"{sha256}.onnx.lock"

    def _pin_path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.onnx.pin"

    def _protected(self) -> set[str]:
        return {sha256 for needed in self._protectors for sha256 in needed()}

    def _full(self, uri: str, incoming: int, held: int) -> ArtifactError:
        """``CACHE_FULL``: ``held`` bytes of the cache cannot be freed now (the artifacts of versions
        loaded or loading, downloads in progress here or in other processes)."""
        return ArtifactError(
            f"artifact {uri} ({gib(incoming)}) does not fit in the artifact cache {self.directory}: its "
            f"limit is {gib(self.limit_bytes)}, of which {gib(held)} holds versions loaded or loading "
            "and downloads in progress; it loads once versions unload, or raise "
            "AIPLAT_INFERENCE_CACHE_LIMIT_GIB",
            reason=CACHE_FULL,
            metadata={
                "uri": uri,
                "cache": str(self.directory),
                "limit_bytes": str(self.limit_bytes),
                "artifact_bytes": str(incoming),
                "held_bytes": str(held),
            },
        )


class CachedArtifact(PosixPath):
    """Where an artifact is cached, which also knows the artifact: open it with :meth:`read_verified`.

    A path so that code wanting only the file still takes it.  Paths derived from it (its parent, a
    sibling) are of this class too, but know no artifact.
    """

    _origin: tuple[ArtifactCache, str, str] | None = None
    _held: bytes | None = None

    @classmethod
    def of(cls, cache: ArtifactCache, uri: str, sha256: str) -> CachedArtifact:
        """Where ``cache`` keeps the artifact at ``uri`` with checksum ``sha256``."""
        artifact = cls(cache.path_for(sha256))
        artifact._origin = (cache, uri, sha256)
        return artifact

    def read_verified(self) -> bytes:
        """The artifact's bytes, read once and checked against its checksum (see
        :meth:`ArtifactCache.read`); blocking.  Hold them no longer than needed.

        On an artifact that :meth:`ArtifactCache.opened` yields, the bytes it read, without reading again.
        """
        if self._held is not None:
            return self._held
        if self._origin is None:
            raise ValueError(f"{self} is not a fetched artifact")
        cache, uri, sha256 = self._origin
        return cache.read(uri, sha256)
