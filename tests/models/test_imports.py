"""Imports: a long-running operation that verifies, inspects and stores an artifact already in storage."""

from __future__ import annotations

import fsspec
import pytest

from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.domain import OperationError, VersionFields
from services.models.enums import ArtifactFormat, TensorType, VersionState
from services.models.imports import ImportRequest, _Job
from services.runtime.errors import InvalidArgument, NotFound

from .helpers import create_model, upload
from .onnx_models import sha256, unique_model

pytestmark = pytest.mark.usefixtures("caller")


def _place(storage: ArtifactStorage, name: str, data: bytes) -> str:
    uri = f"{storage.root_uri}/incoming/{name}"
    with fsspec.open(uri, "wb") as out:
        out.write(data)
    return uri


def _request(uri: str, data: bytes, **overrides: object) -> ImportRequest:
    values: dict[str, object] = {
        "parent": "models/fraud",
        "artifact_uri": uri,
        "sha256": sha256(data),
        "format": ArtifactFormat.ONNX,
        "size_bytes": len(data),
        "fields": VersionFields(description="imported"),
        **overrides,
    }
    return ImportRequest(**values)  # type: ignore[arg-type]


async def test_import_completes_with_a_ready_version(core: ModelsCore, storage: ArtifactStorage) -> None:
    await create_model(core)
    data = unique_model()
    operation = await core.imports.import_version(_request(_place(storage, "m.onnx", data), data))
    assert not operation.done
    assert operation.version == 1
    pending = await core.versions.get_version("models/fraud/versions/1")
    assert pending.state in (VersionState.PENDING, VersionState.READY)

    await core.imports.wait_idle()
    done = await core.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.done
    assert done.error is None
    assert done.bytes_copied == len(data)
    assert done.result is not None
    assert done.result.state == VersionState.READY
    assert done.result.inputs[0].data_type == TensorType.FP32
    assert done.result.description == "imported"
    assert done.result.artifact_uri == storage.uri(sha256(data))
    assert storage.keys() == [sha256(data)]


async def test_a_checksum_mismatch_fails_the_operation_and_the_version(
    core: ModelsCore, storage: ArtifactStorage
) -> None:
    await create_model(core)
    data = unique_model()
    uri = _place(storage, "m.onnx", data)
    operation = await core.imports.import_version(_request(uri, data, sha256="f" * 64))
    await core.imports.wait_idle()
    done = await core.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.done
    assert done.error is not None
    assert done.error.reason == "ARTIFACT_CHECKSUM_MISMATCH"
    assert done.error.code == 3
    version = await core.versions.get_version("models/fraud/versions/1")
    assert version.state == VersionState.FAILED
    assert "SHA-256" in version.state_message
    assert storage.keys() == []


async def test_a_missing_source_fails_the_operation(core: ModelsCore, storage: ArtifactStorage) -> None:
    await create_model(core)
    data = unique_model()
    operation = await core.imports.import_version(_request(f"{storage.root_uri}/incoming/absent.onnx", data))
    await core.imports.wait_idle()
    done = await core.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.error is not None
    assert done.error.reason == "ARTIFACT_UNREADABLE"


async def test_sources_outside_the_allowed_locations_are_refused(core: ModelsCore) -> None:
    await create_model(core)
    data = unique_model()
    for uri in ("file:///etc/passwd", "memory://elsewhere/m.onnx"):
        with pytest.raises(InvalidArgument) as raised:
            await core.imports.import_version(_request(uri, data))
        assert raised.value.violations[0].field == "model_version.artifact_uri"
    with pytest.raises(InvalidArgument) as bad:
        await core.imports.import_version(_request("", data, sha256="x", format=ArtifactFormat.UNSPECIFIED))
    assert {v.field for v in bad.value.violations} == {
        "model_version.artifact_uri",
        "model_version.sha256",
        "model_version.format",
    }


async def test_operations_of_another_tenant_are_not_found(core: ModelsCore, storage: ArtifactStorage) -> None:
    with pytest.raises(NotFound):
        await core.imports.get_operation("models/fraud/operations/abc")


async def test_unfinished_imports_resume(core: ModelsCore, storage: ArtifactStorage) -> None:
    await create_model(core)
    data = unique_model()
    operation = await core.imports.import_version(_request(_place(storage, "m.onnx", data), data))
    # A shutdown right away cancels the task before it copied anything.
    await core.imports.close()
    name = f"models/fraud/operations/{operation.operation_id}"
    assert not (await core.imports.get_operation(name)).done
    assert await core.imports.resume() >= 1
    await core.imports.wait_idle()
    resumed = await core.imports.get_operation(name)
    assert resumed.done
    assert resumed.result is not None
    assert resumed.result.state == VersionState.READY


async def test_a_failed_import_does_not_keep_an_artifact_alive(
    core: ModelsCore, storage: ArtifactStorage
) -> None:
    await create_model(core)
    data = unique_model()
    await upload(core, data=data)
    # Declares the uploaded file's checksum but points at different bytes: FAILED, nothing stored.
    operation = await core.imports.import_version(
        _request(_place(storage, "other.onnx", unique_model()), data)
    )
    await core.imports.wait_idle()
    assert (
        await core.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    ).error is not None
    await core.versions.delete_version("models/fraud/versions/1", force=False)
    assert storage.keys() == []


async def test_an_import_finished_by_another_replica_keeps_its_outcome(
    core: ModelsCore, storage: ArtifactStorage, tenant: str
) -> None:
    await create_model(core)
    data = unique_model()
    source = _place(storage, "m.onnx", data)
    operation = await core.imports.import_version(_request(source, data))
    await core.imports.wait_idle()
    name = f"models/fraud/operations/{operation.operation_id}"

    # A second replica resumed the same import before the first finished, and its attempt fails late.
    job = _Job(tenant, "fraud", operation.operation_id, 1, source, sha256(data), len(data))
    await core.imports._fail(job, 0, OperationError(13, "INTERNAL", "internal error"))

    finished = await core.imports.get_operation(name)
    assert finished.error is None
    assert finished.result is not None
    assert finished.result.state == VersionState.READY
