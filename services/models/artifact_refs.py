"""Who may delete an artifact: reference counting over version rows, serialised per checksum.

An artifact is stored once per checksum and shared by every version (of any
tenant) with the same bytes.  It is removed only when the last version row
naming its checksum is gone (FAILED versions aside: they never stored one).
Storing a new artifact and committing its row happen under the checksum's
lock, and so does "is it still referenced? then delete", so a delete can
never remove a file that an upload is about to reference.  The lock holds
across every process sharing the database (replicas in the cluster, workers
on one machine), which is what shares the artifact store too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from services.models.artifacts import ArtifactStorage
from services.models.store import versions
from services.runtime.named_locks import held_across_processes
from services.runtime.store import Database

_log = logging.getLogger(__name__)

T = TypeVar("T")


class ChecksumLocks:
    """One lock per checksum across the processes sharing ``db``.

    Tasks of one process queue on an asyncio lock (kept only while someone
    holds or waits for it) before one of them takes the lock shared with the
    other processes.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __repr__(self) -> str:
        return f"ChecksumLocks(held={len(self._locks)})"

    @contextlib.asynccontextmanager
    async def hold(self, sha256: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(sha256, (asyncio.Lock(), 0))
        self._locks[sha256] = (lock, users + 1)
        try:
            async with lock, held_across_processes(self._db, f"artifact:{sha256}"):
                yield
        finally:
            lock, users = self._locks[sha256]
            if users == 1:
                del self._locks[sha256]
            else:
                self._locks[sha256] = (lock, users - 1)


class ArtifactReferences:
    """Stores and releases artifacts consistently with the version rows that name them."""

    def __init__(self, db: Database, storage: ArtifactStorage) -> None:
        self.db = db
        self.storage = storage
        self.locks = ChecksumLocks(db)

    def __repr__(self) -> str:
        return f"ArtifactReferences({self.storage!r})"

    async def store(self, local_file: Path, sha256: str, commit: Callable[[str], Awaitable[T]]) -> T:
        """Move the verified ``local_file`` into storage, then ``commit(uri)`` the row that references it.

        Either both happen or neither: when the commit fails the artifact is
        removed again unless another version already references it.  The
        work runs shielded from cancellation (a client hanging up at this
        point must not leave a file without its row), and takes ownership of
        ``local_file``: it is gone when the call returns or raises.
        """
        return await asyncio.shield(asyncio.ensure_future(self._store(local_file, sha256, commit)))

    async def _store(self, local_file: Path, sha256: str, commit: Callable[[str], Awaitable[T]]) -> T:
        try:
            async with self.locks.hold(sha256):
                uri = await asyncio.to_thread(self.storage.put, local_file, sha256)
                try:
                    return await commit(uri)
                except BaseException:
                    await self._delete_unreferenced(sha256)
                    raise
        finally:
            await asyncio.to_thread(local_file.unlink, missing_ok=True)

    async def _delete_unreferenced(self, sha256: str) -> None:
        # Called with the checksum's lock held.
        referenced = await self.db.read(lambda session: versions.sha256_referenced(session, sha256))
        if referenced:
            return
        try:
            await asyncio.to_thread(self.storage.delete, sha256)
        except OSError:
            # The rows are consistent either way; an unreferenced file is garbage, not an error.
            _log.exception("could not delete unreferenced artifact %s", sha256)

    async def release(self, checksums: Iterable[str]) -> None:
        """Delete each artifact that no version references any more (after their rows were deleted).

        Shielded like :meth:`store`: the rows are gone, and a caller hanging up
        must not leave their files behind or a lock half taken.
        """
        await asyncio.shield(asyncio.ensure_future(self._release(sorted(set(checksums)))))

    async def _release(self, checksums: list[str]) -> None:
        for sha256 in checksums:
            async with self.locks.hold(sha256):
                await self._delete_unreferenced(sha256)
