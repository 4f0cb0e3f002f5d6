"""Shortcuts the core tests share: create a model, upload a version, build a deployment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from services.models.core import ModelsCore
from services.models.domain import DeploymentDraft, Model, ModelVersion, TrafficInput, VersionFields
from services.models.enums import ModelTask
from services.models.uploads import UploadMetadata

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
