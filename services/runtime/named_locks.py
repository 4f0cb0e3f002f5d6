"""Locks by name that hold across every process sharing one database.

Replicas of a service that share a store sometimes need one of them at a
time on a key the database has no row for yet (an artifact's checksum, say).
On PostgreSQL the lock is a session advisory lock on a connection held for
the duration; on a SQLite file, which only processes of one machine can
share, it is an ``flock`` on a file of its own beside the database.  An
in-memory SQLite database belongs to one process, which needs no lock.

Waiting blocks a worker thread, not the event loop.  Callers shield the work
they do under a lock (see ``ArtifactReferences``): the thread that waits for
a lock cannot be interrupted, and the lock must be released by the code that
took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import Connection, text

from services.runtime.store import Database

__all__ = ["held_across_processes"]


@contextlib.asynccontextmanager
async def held_across_processes(db: Database, name: str) -> AsyncIterator[None]:
    """Hold the lock ``name`` against every other process using ``db``; reentrant in none."""
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        async with _advisory_lock(db, name):
            yield
    elif url.database and url.database != ":memory:":
        async with _file_lock(Path(f"{url.database}.locks"), name):
            yield
    else:
        yield


def _advisory_key(name: str) -> int:
    """The signed 64-bit key PostgreSQL's advisory locks take, from ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def _advisory_lock(db: Database, name: str) -> AsyncIterator[None]:
    key = _advisory_key(name)
    connection = await asyncio.to_thread(db.engine.connect)
    try:
        await asyncio.to_thread(_advisory, connection, "pg_advisory_lock", key)
        try:
            yield
        finally:
            try:
                await asyncio.to_thread(_advisory, connection, "pg_advisory_unlock", key)
            except Exception:
                # Closing the session for good is what releases the lock now; the pool must not keep it.
                await asyncio.to_thread(connection.invalidate)
                raise
    finally:
        await asyncio.to_thread(connection.close)


def _advisory(connection: Connection, function: str, key: int) -> None:
    connection.execute(text(f"SELECT {function}(:key)"), {"key": key})
    # Session locks outlive transactions; ending this one returns the connection to autocommit-like rest.
    connection.commit()


@contextlib.asynccontextmanager
async def _file_lock(directory: Path, name: str) -> AsyncIterator[None]:
    path = directory / hashlib.sha256(name.encode()).hexdigest()
    descriptor = await asyncio.to_thread(_open_locked, path)
    try:
        yield
    finally:
        # Closing the descriptor releases the lock; the file stays, as another process may hold it now.
        os.close(descriptor)


def _open_locked(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor
