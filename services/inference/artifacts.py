"""Model artifacts fetched once into a local, content-addressed cache.

Any fsspec URL works (``file://``, ``s3://``, ...).  A file is stored as
``<sha256>.onnx`` only after the bytes written hash to the checksum the
registry recorded.  :meth:`ArtifactCache.fetch` hands out a
:class:`CachedArtifact`, a path whose :meth:`~CachedArtifact.read_verified`
reads the file once and checks those very bytes against the checksum: a
session is built from them, never from the path, so a file that changes
between the check and the load (disk corruption, another process) is never
what runs.  A copy found corrupt is fetched again.  Once cached, loading
needs no network: versions keep loading and serving while the artifact store
is unreachable.

Several worker processes may share the directory: a download runs under an
``flock`` of ``<sha256>.onnx.lock``, so each artifact is downloaded once, and
the partial files a crashed download left are removed by the next one.

A cache that cannot be used (its disk full, read-only, or not permitted)
fails the load with reason ``CACHE_UNAVAILABLE``, naming the directory, so it
is not mistaken for an unreachable artifact store; both are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PosixPath
from typing import TypeVar

import fsspec

from services.inference.errors import ARTIFACT_UNAVAILABLE, CACHE_UNAVAILABLE, ArtifactError

__all__ = ["ArtifactCache", "CachedArtifact"]

_log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_READ_ATTEMPTS = 3
"""Reads of a cached artifact, each after fetching it again, before its corruption is an error."""
_T = TypeVar("_T")


class ArtifactCache:
    """Fetches and verifies artifacts into ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fetching: dict[str, asyncio.Future[CachedArtifact]] = {}

    def __repr__(self) -> str:
        return f"ArtifactCache({str(self.directory)!r})"

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

    def read(self, uri: str, sha256: str) -> bytes:
        """The bytes of the cached artifact, read once and hashed; blocking (call it in a thread).

        A copy that does not hash to ``sha256`` (or is gone) is fetched again, so what is returned is
        always the artifact.  Raises :class:`ArtifactError` as :meth:`fetch` does.
        """
        target = self.path_for(sha256)
        for attempt in range(_READ_ATTEMPTS):
            if attempt:
                self._fill(uri, sha256)
            data = _in_cache(self.directory, _read, target)
            if data is not None and hashlib.sha256(data).hexdigest() == sha256:
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
        if _in_cache(self.directory, _verified, target, sha256):
            return
        _in_cache(self.directory, self.directory.mkdir, parents=True, exist_ok=True)
        with _locked(target.with_name(f"{target.name}.lock")):
            # Another process may have fetched it while this one waited.
            if _in_cache(self.directory, _verified, target, sha256):
                return
            # Whoever wrote these held this lock and is gone (a crash): they are garbage.
            for stale in self.directory.glob(f"{target.name}.*.part"):
                stale.unlink(missing_ok=True)
            partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
            try:
                digest = _download(uri, partial, self.directory)
                if digest != sha256:
                    raise ArtifactError(
                        f"artifact {uri} has SHA-256 {digest}, the registry recorded {sha256}",
                        reason="CHECKSUM_MISMATCH",
                        metadata={"uri": uri, "expected": sha256, "actual": digest},
                    )
                # Replaces a corrupted copy in one step: a reader sees the old file or the new one.
                _in_cache(self.directory, os.replace, partial, target)
            finally:
                partial.unlink(missing_ok=True)


class CachedArtifact(PosixPath):
    """Where an artifact is cached, which also knows the artifact: open it with :meth:`read_verified`.

    A path so that code wanting only the file still takes it.  Paths derived from it (its parent, a
    sibling) are of this class too, but know no artifact.
    """

    _origin: tuple[ArtifactCache, str, str] | None = None

    @classmethod
    def of(cls, cache: ArtifactCache, uri: str, sha256: str) -> CachedArtifact:
        """Where ``cache`` keeps the artifact at ``uri`` with checksum ``sha256``."""
        artifact = cls(cache.path_for(sha256))
        artifact._origin = (cache, uri, sha256)
        return artifact

    def read_verified(self) -> bytes:
        """The artifact's bytes, read once and checked against its checksum (see
        :meth:`ArtifactCache.read`); blocking.  Hold them no longer than needed."""
        if self._origin is None:
            raise ValueError(f"{self} is not a fetched artifact")
        cache, uri, sha256 = self._origin
        return cache.read(uri, sha256)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _verified(path: Path, sha256: str) -> bool:
    try:
        return _file_digest(path) == sha256
    except (FileNotFoundError, NotADirectoryError):
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` of ``path`` against every process; the file goes when released."""
    descriptor = _in_cache(path.parent, _lock, path)
    try:
        yield
    finally:
        # Unlinked while still held: a waiter that then gets the old file sees it is gone (see _lock).
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _lock(path: Path) -> int:
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                    return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        # Its holder unlinked it before this process got it: lock the file that now has the name.
        os.close(descriptor)


def _download(uri: str, destination: Path, cache: Path) -> str:
    hasher = hashlib.sha256()
    sink = _in_cache(cache, destination.open, "wb")
    try:
        try:
            with fsspec.open(uri, "rb") as source:
                while chunk := source.read(_CHUNK):
                    hasher.update(chunk)
                    _in_cache(cache, sink.write, chunk)
        except (OSError, ValueError) as error:
            # fsspec raises OSError subclasses for I/O and ValueError for bad URLs.
            raise ArtifactError(
                f"artifact {uri} cannot be read: {error}", reason=ARTIFACT_UNAVAILABLE, metadata={"uri": uri}
            ) from error
        # A full disk may only show when the buffered rest is written out.
        _in_cache(cache, sink.close)
    finally:
        with contextlib.suppress(OSError):
            sink.close()
    return hasher.hexdigest()


def _in_cache(cache: Path, action: Callable[..., _T], *args: object, **kwargs: object) -> _T:
    """``action(*args, **kwargs)``, an operation on the cache: its OSError becomes ``CACHE_UNAVAILABLE``."""
    try:
        return action(*args, **kwargs)
    except OSError as error:
        full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        advice = "; free space there or set AIPLAT_INFERENCE_CACHE_DIR" if full else ""
        raise ArtifactError(
            f"the artifact cache {cache} cannot be used: {error.strerror or error}{advice}",
            reason=CACHE_UNAVAILABLE,
            metadata={"cache": str(cache), "errno": errno.errorcode.get(error.errno or 0, "")},
        ) from error


def _file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
