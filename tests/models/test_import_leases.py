"""Imports under several replicas: one process runs each at a time, and another takes over when it dies."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest

from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.domain import VersionFields
from services.models.enums import ArtifactFormat, VersionState
from services.models.imports import LEASE_SECONDS, ImportRequest
from services.models.store import operations as operation_rows
from services.runtime.store import Database

from .helpers import HeldSource, create_model
from .onnx_models import sha256, unique_model

pytestmark = pytest.mark.usefixtures("caller")


class Clock:
    """A clock the test moves by hand; both replicas read it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def replicas(
    database: Database, second_database: Database, storage: ArtifactStorage, staging_dir: Path, clock: Clock
) -> AsyncIterator[tuple[ModelsCore, ModelsCore]]:
    """Replicas A and B of model management on one store."""
    built = [
        ModelsCore.build(db, storage, staging_dir=staging_dir, max_upload_bytes=1024 * 1024, clock=clock)
        for db in (database, second_database)
    ]
    try:
        yield built[0], built[1]
    finally:
        for core in built:
            await core.close()


def _import(storage: ArtifactStorage, data: bytes) -> ImportRequest:
    uri = f"{storage.root_uri}/incoming/{sha256(data)}.onnx"
    with fsspec.open(uri, "wb") as out:
        out.write(data)
    return ImportRequest(
        parent="models/fraud",
        artifact_uri=uri,
        sha256=sha256(data),
        format=ArtifactFormat.ONNX,
        size_bytes=len(data),
        fields=VersionFields(),
    )


async def test_an_import_a_live_replica_runs_is_not_taken_by_another(
    replicas: tuple[ModelsCore, ModelsCore], storage: ArtifactStorage
) -> None:
    a, b = replicas
    await create_model(a)
    operation = await a.imports.import_version(_import(storage, unique_model()))
    assert await b.imports.resume() == 0, "A holds the lease"
    await a.imports.wait_idle()
    done = await a.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.done
    assert done.error is None
    assert await b.imports.resume() == 0, "a finished import is never taken again"


async def test_an_import_whose_replica_died_is_taken_over_once_its_lease_runs_out(
    replicas: tuple[ModelsCore, ModelsCore], storage: ArtifactStorage, database: Database, clock: Clock
) -> None:
    a, b = replicas
    await create_model(a)
    operation = await a.imports.import_version(_import(storage, unique_model()))
    # A dies before copying: its task is gone but its lease stays in the store (no orderly release).
    for task in list(a.imports._running.values()):
        task.cancel()
    await a.imports.wait_idle()

    clock.now += timedelta(seconds=LEASE_SECONDS / 2)
    assert await b.imports.resume() == 0, "the lease has not run out yet"
    clock.now += timedelta(seconds=LEASE_SECONDS)
    assert await b.imports.resume() == 1
    await b.imports.wait_idle()

    done = await b.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.done
    assert done.result is not None
    assert done.result.state == VersionState.READY


async def test_an_orderly_stop_gives_the_import_back_at_once(
    replicas: tuple[ModelsCore, ModelsCore], storage: ArtifactStorage
) -> None:
    a, b = replicas
    await create_model(a)
    operation = await a.imports.import_version(_import(storage, unique_model()))
    await a.imports.close()
    assert await b.imports.resume() == 1, "no need to wait for the lease after an orderly stop"
    await b.imports.wait_idle()
    done = await b.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.done
    assert done.error is None


def _leased_replicas(
    databases: tuple[Database, Database], storage: ArtifactStorage, staging_dir: Path, lease: float
) -> tuple[ModelsCore, ModelsCore]:
    """Replicas A and B of model management on one store, whose import leases last ``lease`` seconds."""
    a, b = (
        ModelsCore.build(
            db, storage, staging_dir=staging_dir, max_upload_bytes=1024 * 1024, import_lease_seconds=lease
        )
        for db in databases
    )
    return a, b


async def test_a_running_import_keeps_its_lease_and_is_taken_over_when_renewals_stop(
    database: Database,
    second_database: Database,
    storage: ArtifactStorage,
    staging_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, gate = unique_model(), threading.Event()
    monkeypatch.setattr("services.models.imports.open_source", lambda uri, **where: HeldSource(data, gate))
    lease = 1.0  # renewed every third of it: room for a busy machine
    a, b = _leased_replicas((database, second_database), storage, staging_dir, lease)
    try:
        await create_model(a)
        operation = await a.imports.import_version(_import(storage, data))
        a.imports.start_keeping()
        await asyncio.sleep(2 * lease)
        assert await b.imports.resume() == 0, "A renews its lease while its import runs"

        await a.imports.stop_keeping()  # A stops renewing, as a process that hangs or dies does
        await asyncio.sleep(1.5 * lease)
        # Taken over while A's copy is still held: let go first, A could finish it before B looks.
        assert await b.imports.resume() == 1
        gate.set()
        await b.imports.wait_idle()
        done = await b.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
        assert done.done
        assert done.error is None
    finally:
        gate.set()
        await a.close()
        await b.close()


async def test_an_orderly_stop_lets_a_renewal_in_progress_finish_before_giving_the_leases_back(
    database: Database,
    second_database: Database,
    storage: ArtifactStorage,
    staging_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, gate = unique_model(), threading.Event()
    monkeypatch.setattr("services.models.imports.open_source", lambda uri, **where: HeldSource(data, gate))
    renewing, go_on = threading.Event(), threading.Event()
    renew = operation_rows.renew

    def held_renewal(*args: Any, **kwargs: Any) -> None:
        renewing.set()
        assert go_on.wait(10)
        renew(*args, **kwargs)

    monkeypatch.setattr(operation_rows, "renew", held_renewal)
    lease = 0.3
    a, b = _leased_replicas((database, second_database), storage, staging_dir, lease)
    try:
        await create_model(a)
        await a.imports.import_version(_import(storage, data))
        a.imports.start_keeping()
        assert await asyncio.to_thread(renewing.wait, 10)
        closing = asyncio.ensure_future(a.close())
        await asyncio.sleep(0.1)
        assert not closing.done(), "close waits for the renewal its keeper has under way"
        go_on.set()
        await closing
        # The leases were given back after the renewal, not overwritten by it: B takes over at once.
        assert await b.imports.resume() == 1
    finally:
        go_on.set()
        gate.set()
        await a.close()
        await b.close()
