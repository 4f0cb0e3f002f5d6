"""Shortcuts the core tests share: create a model, upload a version, build a deployment."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from services.models.clock import Clock, utcnow
from services.models.core import ModelsCore
from services.models.domain import DeploymentDraft, Model, ModelVersion, TrafficInput, VersionFields
from services.models.enums import ModelTask
from services.models.uploads import UploadMetadata
from services.runtime.store import Database

from .onnx_models import sha256, tiny_model


async def chunks_of(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def create_model(
    core: ModelsCore,
    model_id: str = "fraud",
    *,
    display_name: str = "",
    labels: Mapping[str, str] | None = None,
    task: ModelTask = ModelTask.UNSPECIFIED,
) -> Model:
    model = Model(model_id="", display_name=display_name, labels=dict(labels or {}), task=task)
    return await core.registry.create_model(model_id, model)


async def upload(
    core: ModelsCore, model_id: str = "fraud", data: bytes | None = None, *, description: str = ""
) -> ModelVersion:
    data = tiny_model() if data is None else data
    metadata = UploadMetadata(
        parent=f"models/{model_id}",
        sha256=sha256(data),
        size_bytes=len(data),
        fields=VersionFields(description=description),
    )
    return await core.uploads.upload(metadata, chunks_of(data))


def draft(model_id: str = "fraud", split: Sequence[tuple[int, int]] = ((1, 100),)) -> DeploymentDraft:
    """A deployment of ``model_id`` with ``(version, percent)`` targets and every other field defaulted."""
    traffic = tuple(TrafficInput(f"models/{model_id}/versions/{v}", p) for v, p in split)
    return DeploymentDraft(model=f"models/{model_id}", traffic=traffic)


async def clock_readings_while_locked(
    database: Database, lock: Callable[[Session], object], change: Callable[[Clock], Awaitable[object]]
) -> list[bool]:
    """Run ``change`` (given a clock) while another transaction holds ``lock``'s rows, then let that
    transaction commit; per clock reading of ``change``, whether the lock had been released by then."""
    held, released = threading.Event(), threading.Event()

    def hold(session: Session) -> None:
        lock(session)
        held.set()
        released.wait(10)

    def clock() -> datetime:
        readings.append(released.is_set())
        return utcnow()

    readings: list[bool] = []
    holder = asyncio.create_task(database.write(hold))
    assert await asyncio.to_thread(held.wait, 10)
    changing = asyncio.ensure_future(change(clock))
    await asyncio.sleep(0.2)  # the change starts and, when it locks what it reads, waits
    released.set()
    await holder
    await changing
    return readings


class HeldSource:
    """An import source whose reads wait until the test lets them through, so an import stays running."""

    def __init__(self, data: bytes, gate: threading.Event) -> None:
        self._data = data
        self._gate = gate

    def read(self, size: int) -> bytes:
        assert self._gate.wait(10), "the test never let the import go on"
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk

    def close(self) -> None:
        pass
