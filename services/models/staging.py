"""Staging an artifact's bytes and checking them against what the client declared.

Uploads (a stream of chunks) and imports (a copy from storage) both write the
bytes to an owner-only temporary file in the staging directory while counting
and hashing them, and accept the file only when it is within the size limit
and has the declared size and SHA-256.  Those checks, and the errors they
raise, are spelled once here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from services.models import errors
from services.runtime.tasks import opened_in_thread

__all__ = ["ArtifactWriter", "check_size_limit", "open_staging_file", "staging_file"]


def check_size_limit(size_bytes: int, max_bytes: int, field: str) -> None:
    """Refuse a declared size over ``max_bytes`` (ARTIFACT_TOO_LARGE on ``field``) before any byte arrives."""
    if size_bytes > max_bytes:
        raise errors.artifact_error(
            errors.ARTIFACT_TOO_LARGE,
            f"the artifact has {size_bytes} bytes; the limit is {max_bytes}",
            field,
        )


def staging_file(staging_dir: Path, prefix: str) -> tuple[IO[bytes], Path]:
    """A new, owner-only temporary file in the staging directory."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    descriptor, path = tempfile.mkstemp(dir=staging_dir, prefix=prefix, suffix=".partial")
    return os.fdopen(descriptor, "wb"), Path(path)


async def open_staging_file(staging_dir: Path, prefix: str) -> tuple[IO[bytes], Path]:
    """:func:`staging_file`, made in a worker thread; a caller cancelled meanwhile leaves no file."""
    return await opened_in_thread(functools.partial(staging_file, staging_dir, prefix), _discard)


def _discard(staged: tuple[IO[bytes], Path]) -> None:
    out, path = staged
    out.close()
    path.unlink(missing_ok=True)


class ArtifactWriter:
    """Writes an artifact's bytes to its staging file, counting and hashing them, then checks the whole.

    ``size_bytes`` is the declared size, None when the client declared none;
    ``max_bytes`` bounds the bytes either way.
    """

    def __init__(self, out: IO[bytes], *, sha256: str, size_bytes: int | None, max_bytes: int) -> None:
        self._out = out
        self._sha256 = sha256
        self._declared = size_bytes
        self._max_bytes = max_bytes
        self._digest = hashlib.sha256()
        self._size = 0

    def __repr__(self) -> str:
        return f"ArtifactWriter(size={self._size}, declared={self._declared}, max_bytes={self._max_bytes})"

    @property
    def size(self) -> int:
        """How many bytes were written so far."""
        return self._size

    async def write(self, chunk: bytes) -> None:
        """Count, hash and write ``chunk``.

        Raises ARTIFACT_SIZE_MISMATCH as soon as the bytes exceed the declared
        size or the limit, so a source longer than declared stops at once
        instead of filling the disk.
        """
        self._size += len(chunk)
        if self._size > self._max_bytes or (self._declared is not None and self._size > self._declared):
            limit = self._max_bytes if self._declared is None else self._declared
            raise errors.artifact_error(
                errors.ARTIFACT_SIZE_MISMATCH, f"the artifact has more than {limit} bytes"
            )
        await asyncio.to_thread(_write, self._out, self._digest, chunk)

    async def finish(self) -> None:
        """Check the bytes written, then flush them to disk.

        Raises ARTIFACT_TRUNCATED when they fall short of the declared size and
        ARTIFACT_CHECKSUM_MISMATCH when their SHA-256 is not the declared one.
        """
        if self._declared is not None and self._size != self._declared:
            raise errors.artifact_error(
                errors.ARTIFACT_TRUNCATED,
                f"the artifact has {self._size} bytes, not the declared {self._declared}",
            )
        digest = self._digest.hexdigest()
        if digest != self._sha256:
            raise errors.artifact_error(
                errors.ARTIFACT_CHECKSUM_MISMATCH,
                f"the artifact has SHA-256 {digest}, not the declared {self._sha256}",
            )
        await asyncio.to_thread(_flush, self._out)


def _write(out: IO[bytes], digest: hashlib._Hash, chunk: bytes) -> None:
    out.write(chunk)
    digest.update(chunk)


def _flush(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())
