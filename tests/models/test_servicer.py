"""ModelRegistryService over real gRPC with real tokens: conversions, statuses, details, roles, tenants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.models.settings import ModelsSettings
from tests.grpc_helpers import Metadata, error_details

from .grpc_support import Running
from .onnx_models import sha256, tiny_model, unique_model

Token = Callable[..., Metadata]
pb = registry_service_pb2


async def _create(
    running: Running, auth: Metadata, model_id: str = "fraud", **fields: object
) -> model_pb2.Model:
    request = pb.CreateModelRequest(model=model_pb2.Model(**fields), model_id=model_id)  # type: ignore[arg-type]
    return await running.registry.CreateModel(request, metadata=auth)


def _upload_messages(
    data: bytes, *, declared: bytes | None = None, size: int | None = None, chunk: int = 64
) -> list[pb.UploadModelVersionRequest]:
    metadata = pb.UploadModelVersionMetadata(
        parent="models/fraud",
        sha256=sha256(declared if declared is not None else data),
        size_bytes=len(data) if size is None else size,
        model_version=model_pb2.ModelVersion(description="from a test", labels={"stage": "dev"}),
    )
    chunks = [pb.UploadModelVersionRequest(chunk=data[i : i + chunk]) for i in range(0, len(data), chunk)]
    return [pb.UploadModelVersionRequest(metadata=metadata), *chunks]


async def _stream(
    messages: Sequence[pb.UploadModelVersionRequest],
) -> AsyncIterator[pb.UploadModelVersionRequest]:
    for message in messages:
        yield message


async def _upload(running: Running, auth: Metadata, data: bytes, **options: object) -> model_pb2.ModelVersion:
    """Upload through the blocking client: when the server refuses an upload before it has read every
    chunk, the asyncio client may report INTERNAL for its own failed write instead of the server's
    status (grpc/grpc#36066); the blocking client always reports the server's."""
    messages = _upload_messages(data, **options)  # type: ignore[arg-type]

    def call() -> model_pb2.ModelVersion:
        with grpc.insecure_channel(running.address) as channel:
            stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
            return stub.UploadModelVersion(iter(messages), metadata=auth)

    return await asyncio.to_thread(call)


async def test_create_get_list_update_delete(running: Running, token: Token) -> None:
    auth = token("editor")
    created = await _create(running, auth, display_name="Fraud", labels={"team": "risk"})
    assert created.name == "models/fraud"
    assert created.create_time.seconds > 0
    assert created.etag
    assert await running.registry.GetModel(pb.GetModelRequest(name="models/fraud"), metadata=auth) == created
    await _create(running, auth, "churn", task=model_pb2.MODEL_TASK_CLASSIFICATION)

    listed = await running.registry.ListModels(
        pb.ListModelsRequest(filter="task = MODEL_TASK_CLASSIFICATION"), metadata=auth
    )
    assert [m.name for m in listed.models] == ["models/churn"]
    assert listed.total_size == 1
    first = await running.registry.ListModels(
        pb.ListModelsRequest(page_size=1, order_by="name"), metadata=auth
    )
    second = await running.registry.ListModels(
        pb.ListModelsRequest(page_size=1, order_by="name", page_token=first.next_page_token), metadata=auth
    )
    assert [m.name for m in (*first.models, *second.models)] == ["models/churn", "models/fraud"]
    assert not second.next_page_token

    updated = await running.registry.UpdateModel(
        pb.UpdateModelRequest(
            model=model_pb2.Model(name="models/fraud", description="catches fraud", etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
        metadata=auth,
    )
    assert updated.description == "catches fraud"
    assert updated.display_name == "Fraud"

    await running.registry.DeleteModel(pb.DeleteModelRequest(name="models/fraud"), metadata=auth)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.registry.GetModel(pb.GetModelRequest(name="models/fraud"), metadata=auth)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(raised.value)[0] == "MODEL_NOT_FOUND"


async def test_bad_input_names_the_field(running: Running, token: Token) -> None:
    auth = token("editor")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _create(running, auth, "Not Valid")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(raised.value)[1] == ["model_id"]
    await _create(running, auth)
    with pytest.raises(grpc.aio.AioRpcError) as duplicate:
        await _create(running, auth)
    assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as masked:
        await running.registry.UpdateModel(
            pb.UpdateModelRequest(
                model=model_pb2.Model(name="models/fraud"),
                update_mask=field_mask_pb2.FieldMask(paths=["create_time"]),
            ),
            metadata=auth,
        )
    assert masked.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(masked.value)[1] == ["update_mask.paths[0]"]
    assert "create_time" in (masked.value.details() or "")


async def test_too_many_labels_is_one_small_violation(running: Running, token: Token) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _create(running, token("editor"), labels={f"K{index}": "v" for index in range(1000)})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(raised.value) == ("INVALID_ARGUMENT", ["model.labels"])
    assert raised.value.details() == "invalid request: model.labels: at most 64 labels, got 1000"


async def test_upload_returns_the_version_with_its_signature(running: Running, token: Token) -> None:
    auth = token("editor")
    await _create(running, auth)
    data = unique_model()
    version = await _upload(running, auth, data)
    assert version.name == "models/fraud/versions/1"
    assert version.state == model_pb2.MODEL_VERSION_STATE_READY
    assert version.format == model_pb2.ARTIFACT_FORMAT_ONNX
    assert (version.sha256, version.size_bytes, version.onnx_opset) == (sha256(data), len(data), 17)
    assert [(t.name, t.data_type, list(t.dims)) for t in version.inputs] == [
        ("features", model_pb2.TENSOR_DATA_TYPE_FP32, [-1, 4])
    ]
    assert [(t.name, list(t.dims)) for t in version.outputs] == [("scores", [-1, 2])]
    assert version.creator == "alice"
    assert dict(version.labels) == {"stage": "dev"}
    assert version.artifact_uri.startswith("file://")
    assert _contents(Path(version.artifact_uri.removeprefix("file://"))) == data


def _contents(path: Path) -> bytes:
    return path.read_bytes()


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (
            {"data": tiny_model()[:-30], "declared": tiny_model(), "size": len(tiny_model())},
            "ARTIFACT_TRUNCATED",
        ),
        ({"data": tiny_model(), "declared": b"other bytes"}, "ARTIFACT_CHECKSUM_MISMATCH"),
        ({"data": b"\x08\x01garbage" * 40}, "ARTIFACT_NOT_ONNX"),
        ({"data": tiny_model(), "size": 2 * 1024 * 1024}, "ARTIFACT_TOO_LARGE"),
    ],
    ids=["truncated", "checksum", "not-onnx", "over-limit"],
)
async def test_a_bad_upload_is_invalid_and_leaves_nothing(
    running: Running, token: Token, models_settings: ModelsSettings, options: dict[str, object], reason: str
) -> None:
    auth = token("editor")
    await _create(running, auth)
    artifacts = Path(models_settings.resolved_artifact_url())
    before = _files(artifacts)
    with pytest.raises(grpc.RpcError) as raised:
        await _upload(running, auth, **options)  # type: ignore[arg-type]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(raised.value)[0] == reason
    listed = await running.registry.ListModelVersions(
        pb.ListModelVersionsRequest(parent="models/fraud"), metadata=auth
    )
    assert list(listed.model_versions) == []
    assert _files(artifacts) == before
    assert _files(models_settings.resolved_staging_dir()) == []


async def test_an_upload_without_metadata_first_is_invalid(running: Running, token: Token) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.registry.UploadModelVersion(
            _stream([pb.UploadModelVersionRequest(chunk=b"x")]), metadata=token("editor")
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(raised.value)[1] == ["metadata"]


async def test_a_cancelled_upload_cleans_up(
    running: Running, token: Token, models_settings: ModelsSettings
) -> None:
    auth = token("editor")
    await _create(running, auth)
    data = tiny_model()
    call = running.registry.UploadModelVersion(metadata=auth)
    for message in _upload_messages(data)[:2]:
        await call.write(message)
    staging = models_settings.resolved_staging_dir()
    for _ in range(200):
        if _files(staging):
            break
        await asyncio.sleep(0.01)
    assert _files(staging), "the server never started receiving"
    call.cancel()
    for _ in range(200):
        if not _files(staging):
            break
        await asyncio.sleep(0.01)
    assert _files(staging) == []
    listed = await running.registry.ListModelVersions(
        pb.ListModelVersionsRequest(parent="models/fraud"), metadata=auth
    )
    assert list(listed.model_versions) == []


async def test_aliases_and_versions_by_alias(running: Running, token: Token) -> None:
    auth = token("editor")
    await _create(running, auth)
    await _upload(running, auth, tiny_model())
    alias = await running.registry.SetModelAlias(
        pb.SetModelAliasRequest(
            alias=model_pb2.ModelAlias(name="models/fraud/aliases/prod", version="models/fraud/versions/1")
        ),
        metadata=auth,
    )
    assert alias.updater == "alice"
    assert alias.update_time.seconds > 0
    version = await running.registry.GetModelVersion(
        pb.GetModelVersionRequest(name="models/fraud/versions/prod"), metadata=auth
    )
    assert version.name == "models/fraud/versions/1"
    assert list(version.aliases) == ["prod"]
    listed = await running.registry.ListModelAliases(
        pb.ListModelAliasesRequest(parent="models/fraud"), metadata=auth
    )
    assert [a.name for a in listed.aliases] == ["models/fraud/aliases/prod"]
    await running.registry.DeleteModelAlias(
        pb.DeleteModelAliasRequest(name="models/fraud/aliases/prod"), metadata=auth
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await running.registry.GetModelAlias(
            pb.GetModelAliasRequest(name="models/fraud/aliases/prod"), metadata=auth
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_import_is_a_long_running_operation(
    running: Running, token: Token, models_settings: ModelsSettings
) -> None:
    auth = token("editor")
    await _create(running, auth)
    data = unique_model()
    source = Path(models_settings.resolved_artifact_url()) / "incoming" / "model.onnx"
    source.parent.mkdir(parents=True)
    source.write_bytes(data)
    operation = await running.registry.ImportModelVersion(
        pb.ImportModelVersionRequest(
            parent="models/fraud",
            model_version=model_pb2.ModelVersion(
                artifact_uri=str(source), sha256=sha256(data), format=model_pb2.ARTIFACT_FORMAT_ONNX
            ),
        ),
        metadata=auth,
    )
    assert operation.name.startswith("models/fraud/operations/")
    metadata = model_pb2.ImportModelVersionMetadata()
    assert operation.metadata.Unpack(metadata)
    assert metadata.version == "models/fraud/versions/1"
    await running.core.imports.wait_idle()
    done = await running.registry.GetOperation(pb.GetOperationRequest(name=operation.name), metadata=auth)
    version = model_pb2.ModelVersion()
    assert done.done
    assert done.response.Unpack(version)
    assert version.state == model_pb2.MODEL_VERSION_STATE_READY
    assert version.size_bytes == len(data)
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await running.registry.GetOperation(
            pb.GetOperationRequest(name=operation.name), metadata=token("viewer", tenant_name="someone-else")
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


async def test_viewers_cannot_write(running: Running, token: Token) -> None:
    await _create(running, token("editor"))
    viewer = token("viewer")
    assert (await running.registry.GetModel(pb.GetModelRequest(name="models/fraud"), metadata=viewer)).name
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _create(running, viewer, "other")
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
        await running.registry.GetModel(pb.GetModelRequest(name="models/fraud"))
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_another_tenants_resources_are_not_found(running: Running, token: Token, tenant: str) -> None:
    await _create(running, token("editor"))
    await _upload(running, token("editor"), tiny_model())
    other = token("admin", tenant_name=f"{tenant}-other", subject="mallory")
    for call in (
        running.registry.GetModel(pb.GetModelRequest(name="models/fraud"), metadata=other),
        running.registry.GetModelVersion(
            pb.GetModelVersionRequest(name="models/fraud/versions/1"), metadata=other
        ),
        running.registry.DeleteModel(pb.DeleteModelRequest(name="models/fraud", force=True), metadata=other),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert list((await running.registry.ListModels(pb.ListModelsRequest(), metadata=other)).models) == []
