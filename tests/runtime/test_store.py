"""The store: migrations applied at open, transactions in worker threads, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.runtime.store import Database, open_database

MIGRATIONS = Path(__file__).with_name("migrations")
POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=2"


async def _round_trip(database: Database) -> None:
    def insert(session: Session) -> int:
        session.execute(text("INSERT INTO notes (tenant, body) VALUES ('acme', 'hello')"))
        return int(session.execute(text("SELECT count(*) FROM notes")).scalar_one())

    def read(session: Session) -> list[tuple[str, str]]:
        return [(row.tenant, row.body) for row in session.execute(text("SELECT tenant, body FROM notes"))]

    assert await database.write(insert) == 1
    assert await database.read(read) == [("acme", "hello")]


async def test_sqlite_round_trip(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path}/data/sample.db", MIGRATIONS)
    try:
        await _round_trip(database)
    finally:
        database.dispose()
    assert (tmp_path / "data" / "sample.db").exists()


async def test_sqlite_connections_use_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path}/sample.db", MIGRATIONS)
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            # 2 = FULL: a commit is on disk before it is acknowledged.
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() > 0
    finally:
        database.dispose()


async def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sample.db"
    open_database(url, MIGRATIONS).dispose()
    database = open_database(url, MIGRATIONS)
    try:
        await _round_trip(database)
        version = await database.read(
            lambda s: s.execute(text("SELECT version_num FROM alembic_version")).scalar()
        )
        assert version == "0001"
    finally:
        database.dispose()


async def test_concurrent_read_modify_write_transactions_all_commit(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path}/sample.db", MIGRATIONS)
    try:
        await database.write(
            lambda s: s.execute(text("INSERT INTO notes (id, tenant, body) VALUES (1, 't', 'n')"))
        )

        def increment(session: Session) -> None:
            value = session.execute(text("SELECT counter FROM notes WHERE id = 1")).scalar_one()
            session.execute(text("UPDATE notes SET counter = :value WHERE id = 1"), {"value": value + 1})

        await asyncio.gather(*(database.write(increment) for _ in range(20)))

        counter = await database.read(
            lambda s: s.execute(text("SELECT counter FROM notes WHERE id = 1")).scalar()
        )
        assert counter == 20
    finally:
        database.dispose()


async def test_a_failing_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path}/sample.db", MIGRATIONS)

    def insert_then_fail(session: Session) -> None:
        session.execute(text("INSERT INTO notes (tenant, body) VALUES ('acme', 'lost')"))
        raise RuntimeError("the core changed its mind")

    try:
        with pytest.raises(RuntimeError):
            await database.write(insert_then_fail)
        assert await database.read(lambda s: s.execute(text("SELECT count(*) FROM notes")).scalar()) == 0
    finally:
        database.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {error}")
    name = f"aiplat_runtime_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
async def test_postgres_round_trip(postgres_url: str) -> None:
    database = open_database(postgres_url, MIGRATIONS)
    try:
        await _round_trip(database)
    finally:
        database.dispose()


@pytest.mark.postgres
async def test_a_postgres_read_sees_one_state_of_the_store_across_its_statements(postgres_url: str) -> None:
    database = open_database(postgres_url, MIGRATIONS)

    def count(session: Session) -> int:
        return int(session.execute(text("SELECT count(*) FROM notes")).scalar_one())

    def insert(session: Session) -> None:
        session.execute(text("INSERT INTO notes (tenant, body) VALUES ('acme', 'meanwhile')"))

    def read_twice_around_a_commit(session: Session) -> tuple[int, int]:
        before = count(session)
        database.write_sync(insert)  # another transaction commits between the two statements
        return before, count(session)

    try:
        assert await database.read(read_twice_around_a_commit) == (0, 0)
        assert await database.read(count) == 1
    finally:
        database.dispose()
