"""Named locks across processes: a second holder of the same database waits; other names do not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psycopg
import pytest

from services.runtime.named_locks import held_across_processes
from services.runtime.store import Database, create_database_engine

POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=2"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

Opener = Callable[[], Database]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def open_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens the same database again, as another process would (an engine of its own each time)."""
    if request.param == "postgresql":
        try:
            psycopg.connect(POSTGRES).close()
        except psycopg.OperationalError as error:
            pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {error}")
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    opened: list[Database] = []

    def another() -> Database:
        opened.append(Database(create_database_engine(url)))
        return opened[-1]

    yield another
    for database in opened:
        database.dispose()


async def _hold_until(database: Database, name: str, held: asyncio.Event, release: asyncio.Event) -> None:
    async with held_across_processes(database, name):
        held.set()
        await release.wait()


async def test_a_second_holder_waits_for_the_first_and_other_names_do_not(open_database: Opener) -> None:
    first, second = open_database(), open_database()
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_until(first, "artifact:abc", held, release))
    await asyncio.wait_for(held.wait(), 10)

    order: list[str] = []

    async def take() -> None:
        async with held_across_processes(second, "artifact:abc"):
            order.append("second")

    waiter = asyncio.create_task(take())
    async with asyncio.timeout(10), held_across_processes(second, "artifact:other"):
        order.append("other name")
    await asyncio.sleep(0.2)
    assert order == ["other name"], "the same name must wait for its holder"

    order.append("first released")
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), 10)
    assert order == ["other name", "first released", "second"]
    async with asyncio.timeout(10), held_across_processes(first, "artifact:abc"):
        pass  # released by both: free again


async def test_an_in_memory_database_needs_no_lock() -> None:
    database = Database(create_database_engine("sqlite://"))
    try:
        async with (
            asyncio.timeout(5),
            held_across_processes(database, "x"),
            held_across_processes(database, "x"),
        ):
            pass  # one process owns it: nothing to wait for, even nested
    finally:
        database.dispose()
