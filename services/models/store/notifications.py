"""PostgreSQL notifications of deployment changes, so that other processes hear of them at once.

A transaction that changes a deployment's spec or existence sends ``NOTIFY``
on :data:`CHANNEL`; PostgreSQL delivers it to every listening connection when
the transaction commits (and not at all when it rolls back).  Each process
of model management listens on one connection of its own and polls the store
as soon as a notification arrives.  Other stores (SQLite, one machine) have no
notifications: their processes poll on a timer alone, as do PostgreSQL ones
while their listening connection is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.runtime.tasks import cancel_and_wait

_log = logging.getLogger(__name__)

CHANNEL = "aiplat_deployment_changes"


def announce_change(session: Session) -> None:
    """Notify the listening processes when this transaction commits; nothing on stores without it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"NOTIFY {CHANNEL}"))


class ChangeListener:
    """Calls ``wake`` for every notification on :data:`CHANNEL`, and once after each (re)connection, since
    changes may have been committed while it was not listening."""

    def __init__(self, conninfo: str, wake: Callable[[], None], *, retry_seconds: float = 1.0) -> None:
        self._conninfo = conninfo
        self._wake = wake
        self._retry_seconds = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        """Set while the connection listens (tests wait for it)."""

    @classmethod
    def for_engine(cls, engine: sa.Engine, wake: Callable[[], None]) -> ChangeListener | None:
        """A listener on ``engine``'s database; None when it is not PostgreSQL."""
        if engine.dialect.name != "postgresql":
            return None
        url = engine.url.set(drivername="postgresql")
        return cls(url.render_as_string(hide_password=False), wake)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="models-change-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as error:
                _log.warning(
                    "not listening for deployment changes, trying again in %ss: %s",
                    self._retry_seconds,
                    str(error).splitlines()[0] if str(error) else type(error).__name__,
                    extra={"event": "watch_listen_failed"},
                )
            except Exception:
                # Whatever went wrong, polling on the timer goes on; listening is tried again.
                _log.exception(
                    "listening for deployment changes failed", extra={"event": "watch_listen_failed"}
                )
            finally:
                self.listening.clear()
            await asyncio.sleep(self._retry_seconds)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self._wake()
            async for _ in connection.notifies():
                self._wake()
