"""A service's relational store: engine, sessions and Alembic migrations.

SQLite (a file in the data directory) on one machine, PostgreSQL
(``postgresql+psycopg://``) in production.  The store is synchronous
SQLAlchemy run in worker threads (``await db.write(fn)``) rather than the
asyncio extension: SQLite has no asynchronous driver anyway (``aiosqlite``
is a thread per connection), Alembic is synchronous, and one code path for
both databases keeps the services' store modules simple and testable.

Migrations are a service's folder of Alembic revision files;
``open_database`` upgrades to head at startup through the shared environment
in :mod:`services.runtime.alembic_env`, without any ``alembic.ini``.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

_log = logging.getLogger(__name__)

T = TypeVar("T")

_ENV_DIR = Path(__file__).with_name("alembic_env")
_BEGIN_OPTION = "aiplat_sqlite_begin"
_MIGRATION_LOCK_ID = zlib.crc32(b"aiplat-migrations")
SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for another one before failing with ``database is locked``."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (the "begin" hook below): the
    # sqlite3 module's own implicit BEGIN would skip SELECTs and DDL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer nor the other way round.
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL syncs the log on every commit: with NORMAL, a commit already acknowledged to a client
        # can roll back after a power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        # Off by default in SQLite, for compatibility; our schemas rely on them.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE), so a transaction
    # that reads and then writes waits for busy_timeout instead of failing
    # when another writer got there first.
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_database_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout, and their folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pool_pre_ping: connections dropped by a PostgreSQL restart or failover are replaced, not reported.
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _versions_dir(migrations: Path | ModuleType) -> Path:
    if isinstance(migrations, ModuleType):
        locations = list(getattr(migrations, "__path__", []))
        if not locations:
            raise ValueError(f"{migrations.__name__} is a module, not a package of migrations")
        migrations = Path(locations[0])
    if not migrations.is_dir():
        raise ValueError(f"migrations folder {migrations} does not exist")
    return migrations


def alembic_config(migrations: Path | ModuleType) -> Config:
    """An in-memory Alembic config for a service's revisions, e.g. for ``command.revision``."""
    config = Config()
    config.set_main_option("script_location", str(_ENV_DIR))
    config.set_main_option("version_locations", str(_versions_dir(migrations)))
    # Revision files are named after their revision ids, in order.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("path_separator", "os")
    return config


def upgrade(engine: Engine, migrations: Path | ModuleType, revision: str = "head") -> None:
    """Apply the service's migrations up to ``revision`` in one transaction."""
    config = alembic_config(migrations)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together must not run the same migration twice.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class Database:
    """Engine and sessions of a service's store; work runs in worker threads, one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        # A read of several statements sees one state of the store, as on SQLite: at PostgreSQL's
        # default level each statement sees what was committed when it began (rows from one commit,
        # their children from the next).
        reader = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )
        # expire_on_commit=False: objects returned from a transaction stay readable after it.
        self._read_sessions = sessionmaker(bind=reader, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=writer, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

    def read_sync(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a read transaction, in this thread."""
        with self._read_sessions() as session, session.begin():
            return work(session)

    def write_sync(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction, in this thread; committed when it returns."""
        with self._write_sessions() as session, session.begin():
            return work(session)

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a read transaction in a worker thread."""
        return await asyncio.to_thread(self.read_sync, work)

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction in a worker thread; an exception rolls it back."""
        return await asyncio.to_thread(self.write_sync, work)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(url: str, migrations: Path | ModuleType, *, echo: bool = False) -> Database:
    """Connect to ``url`` and upgrade its schema to the newest revision in ``migrations``."""
    engine = create_database_engine(url, echo=echo)
    try:
        upgrade(engine, migrations)
    except BaseException:
        engine.dispose()
        raise
    _log.info("database ready", extra={"database": engine.url.render_as_string(hide_password=True)})
    return Database(engine)
