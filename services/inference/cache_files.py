"""Files of the artifact cache: listing, reading, hashing, locking and downloading them.

Every operation on the cache directory goes through :func:`in_cache`, so that a disk that is full,
read-only or not permitted fails as ``CACHE_UNAVAILABLE``, naming the directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TypeVar

import fsspec

from services.inference.errors import ARTIFACT_UNAVAILABLE, CACHE_UNAVAILABLE, ArtifactError

__all__ = [
    "CacheEntry",
    "download",
    "file_digest",
    "file_lock",
    "file_size",
    "gib",
    "in_cache",
    "list_entries",
    "read_file",
    "remote_size",
    "shared_lock",
    "touch",
    "verified",
]

_CACHED = re.compile(r"^([0-9a-f]{64})\.onnx$")
_CHUNK = 1 << 20
_T = TypeVar("_T")


class CacheEntry(NamedTuple):
    """One cached artifact, as listed when making room."""

    sha256: str
    path: Path
    size: int
    used_ns: int
    """Its mtime, touched on every use."""


def read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def verified(path: Path, sha256: str) -> bool:
    try:
        return file_digest(path) == sha256
    except (FileNotFoundError, NotADirectoryError):
        return False


def touch(path: Path) -> None:
    """Mark the cached artifact used now (its mtime orders evictions); a file gone meanwhile is fine."""
    with contextlib.suppress(OSError):
        os.utime(path)


def list_entries(directory: Path) -> list[CacheEntry]:
    """The cached artifacts (never ``.part``, ``.lock``, ``.pin`` or ``.reserved`` files)."""
    entries = []
    with os.scandir(directory) as listing:
        for item in listing:
            if (match := _CACHED.fullmatch(item.name)) is None:
                continue
            try:
                stat = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # evicted by another process meanwhile
            entries.append(CacheEntry(match[1], Path(item.path), stat.st_size, stat.st_mtime_ns))
    return entries


def remote_size(uri: str) -> int | None:
    """The artifact's size as its store tells it; None when it cannot (the download will say why)."""
    try:
        filesystem, path = fsspec.core.url_to_fs(uri)
        size = filesystem.size(path)
    except (OSError, ValueError, NotImplementedError):
        return None
    return size if isinstance(size, int) and size >= 0 else None


def file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def gib(size: int) -> str:
    return f"{size / 1024**3:.2f} GiB ({size} bytes)"


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` of ``path`` against every process; the file goes when released.

    ``wait=False``: yield False at once, holding nothing, when another holds it.
    """
    descriptor = in_cache(path.parent, _lock, path, wait)
    if descriptor is None:
        yield False
        return
    try:
        yield True
    finally:
        # Unlinked while still held: a waiter that then gets the old file sees it is gone (see _lock).
        path.unlink(missing_ok=True)
        os.close(descriptor)


def shared_lock(path: Path) -> int:
    """A shared ``flock`` of ``path`` (created if need be), waiting out an exclusive holder; release it
    by closing the descriptor returned.  The file stays: other holders may share it."""
    descriptor = _lock(path, True, shared=True)
    assert descriptor is not None  # a waiting lock always gets one
    return descriptor


def _lock(path: Path, wait: bool, *, shared: bool = False) -> int | None:
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if wait:
                fcntl.flock(descriptor, mode)
            else:
                try:
                    fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(descriptor)
                    return None
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                    return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        # Its holder unlinked it before this process got it: lock the file that now has the name.
        os.close(descriptor)


def download(uri: str, destination: Path, cache: Path) -> str:
    hasher = hashlib.sha256()
    sink = in_cache(cache, destination.open, "wb")
    try:
        try:
            with fsspec.open(uri, "rb") as source:
                while chunk := source.read(_CHUNK):
                    hasher.update(chunk)
                    in_cache(cache, sink.write, chunk)
        except (OSError, ValueError) as error:
            # fsspec raises OSError subclasses for I/O and ValueError for bad URLs.
            raise ArtifactError(
                f"artifact {uri} cannot be read: {error}", reason=ARTIFACT_UNAVAILABLE, metadata={"uri": uri}
            ) from error
        # A full disk may only show when the buffered rest is written out.
        in_cache(cache, sink.close)
    finally:
        with contextlib.suppress(OSError):
            sink.close()
    return hasher.hexdigest()


def in_cache(cache: Path, action: Callable[..., _T], *args: object, **kwargs: object) -> _T:
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


def file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
