"""Imports: a long-running operation that verifies, inspects and stores an artifact already in storage."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import NoReturn

import fsspec
import fsspec.core
import pytest

from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.domain import OperationError, VersionFields
from services.models.enums import ArtifactFormat, TensorType, VersionState
from services.models.imports import ImportRequest, _Job
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import Code, InvalidArgument, NotFound
from services.runtime.store import Database

from .helpers import HeldSource, create_model, upload
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


def _no_filesystem(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("a filesystem was built while checking the request")


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("zip://m.onnx::{root}/incoming/m.zip", "is not a usable URI: chained URLs"),
        ("tar://m.onnx::file:///etc/hostname", "is not a usable URI: chained URLs"),
        ("{root}/incoming/m.onnx\x00", "is not a usable URI: must not contain control characters"),
        ("ftp://10.255.255.1/x", "must lie under one of"),
        ("http://127.0.0.1:1/x", "must lie under one of"),
        ("reference://x", "must lie under one of"),
        ("memory://{root_name}/../m.onnx", "is not a usable URI: relative path segments"),
    ],
)
async def test_a_source_is_judged_on_its_text_before_any_filesystem_is_built(
    core: ModelsCore, storage: ArtifactStorage, monkeypatch: pytest.MonkeyPatch, uri: str, why: str
) -> None:
    await create_model(core)
    data = unique_model()
    # Building these filesystems connects to the host they name or opens the files they chain to.
    monkeypatch.setattr(fsspec.core, "filesystem", _no_filesystem)
    monkeypatch.setattr(fsspec, "filesystem", _no_filesystem)
    root_name = storage.root_uri.removeprefix("memory:///")
    request = _request(uri.format(root=storage.root_uri, root_name=root_name), data)
    with pytest.raises(InvalidArgument) as raised:
        await core.imports.import_version(request)
    assert raised.value.code == Code.INVALID_ARGUMENT
    [violation] = raised.value.violations
    assert violation.field == "model_version.artifact_uri"
    assert violation.description.startswith(why)


async def test_a_stored_artifact_is_no_source_even_for_another_tenant_that_knows_its_checksum(
    core: ModelsCore, storage: ArtifactStorage, caller: Identity
) -> None:
    await create_model(core)
    data = unique_model()
    await upload(core, data=data)
    stored = storage.uri(sha256(data))
    other = Identity(subject="mallory", tenant=f"{caller.tenant}-other", roles=frozenset({Role.EDITOR}))
    with bind_identity(other):
        await create_model(core)
        for uri in (stored, stored.replace("/sha256/", "//sha256//")):
            with pytest.raises(InvalidArgument) as raised:
                await core.imports.import_version(_request(uri, data))
            [violation] = raised.value.violations
            assert violation.field == "model_version.artifact_uri"
            assert violation.description.startswith(f"must not lie under {storage.stored_uri}/")
        assert (await core.versions.list_versions("models/fraud", 0, "", "")).items == ()
    # Its owner is refused too: an upload or the original location is the way to a new version.
    with pytest.raises(InvalidArgument):
        await core.imports.import_version(_request(stored, data))


def _local_core(database: Database, tmp_path: Path, staging_dir: Path) -> tuple[ModelsCore, Path]:
    """A core storing artifacts in a local folder, which imports from the folder ``incoming`` it returns."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    core = ModelsCore.build(
        database,
        ArtifactStorage(str(tmp_path / "artifacts")),
        staging_dir=staging_dir,
        max_upload_bytes=1024 * 1024,
        import_uri_prefixes=(str(incoming),),
    )
    return core, incoming


async def test_a_link_under_an_allowed_folder_to_a_stored_artifact_is_unreadable(
    database: Database, tmp_path: Path, staging_dir: Path, caller: Identity
) -> None:
    # Who may write into an incoming folder must not reach, through a link, what the text check refuses:
    # another tenant's stored artifact, known by its checksum.
    local, incoming = _local_core(database, tmp_path, staging_dir)
    storage = local.artifacts.storage
    try:
        await create_model(local)
        data = unique_model()
        await upload(local, data=data)
        (incoming / "m.onnx").symlink_to(storage.uri(sha256(data)).removeprefix("file://"))
        other = Identity(subject="mallory", tenant=f"{caller.tenant}-other", roles=frozenset({Role.EDITOR}))
        with bind_identity(other):
            await create_model(local)
            operation = await local.imports.import_version(_request(str(incoming / "m.onnx"), data))
            await local.imports.wait_idle()
            done = await local.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    finally:
        await local.close()
    assert done.error is not None
    assert (done.error.code, done.error.reason) == (3, "ARTIFACT_UNREADABLE")
    assert "Permission denied" in done.error.message


async def test_a_local_source_may_be_given_as_a_path_under_a_configured_prefix(
    database: Database, tmp_path: Path, staging_dir: Path
) -> None:
    local, incoming = _local_core(database, tmp_path, staging_dir)
    try:
        await create_model(local)
        data = unique_model()
        (incoming / "m.onnx").write_bytes(data)
        operation = await local.imports.import_version(_request(str(incoming / "m.onnx"), data))
        assert operation.source_uri == f"file://{incoming}/m.onnx"
        await local.imports.wait_idle()
        done = await local.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
        assert done.result is not None
        assert done.result.state == VersionState.READY
    finally:
        await local.close()


async def test_an_unreadable_source_is_reported_without_server_paths(
    core: ModelsCore, storage: ArtifactStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(uri: str, **where: object) -> NoReturn:
        raise FileNotFoundError(errno.ENOENT, "/srv/aiplat/mnt/incoming/m.onnx")

    monkeypatch.setattr("services.models.imports.open_source", refuse)
    await create_model(core)
    data = unique_model()
    uri = f"{storage.root_uri}/incoming/m.onnx"
    operation = await core.imports.import_version(_request(uri, data))
    await core.imports.wait_idle()
    done = await core.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.error == OperationError(
        3, "ARTIFACT_UNREADABLE", f"cannot read {uri}: No such file or directory"
    )


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (errno.EIO, OperationError(13, "INTERNAL", "internal error")),
        (
            errno.ENOSPC,
            OperationError(
                8,
                "STORAGE_FULL",
                "the server has no space left to store the artifact; retry once an operator has freed some",
            ),
        ),
    ],
)
async def test_a_server_side_failure_is_the_servers_not_the_sources_fault(
    core: ModelsCore,
    storage: ArtifactStorage,
    monkeypatch: pytest.MonkeyPatch,
    failure: int,
    error: OperationError,
) -> None:
    def fails(staging_dir: Path, prefix: str) -> NoReturn:
        raise OSError(failure, os.strerror(failure), str(staging_dir))

    monkeypatch.setattr("services.models.staging.staging_file", fails)
    await create_model(core)
    data = unique_model()
    operation = await core.imports.import_version(_request(_place(storage, "m.onnx", data), data))
    await core.imports.wait_idle()
    done = await core.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.error == error


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


async def test_a_failed_import_releases_the_artifact_a_deleted_version_left_to_it(
    core: ModelsCore, storage: ArtifactStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_model(core)
    data = unique_model()
    await upload(core, data=data)
    gate = threading.Event()
    wrong = bytes(len(data))
    monkeypatch.setattr("services.models.imports.open_source", lambda uri, **where: HeldSource(wrong, gate))
    try:
        operation = await core.imports.import_version(_request(f"{storage.root_uri}/incoming/m.onnx", data))
        await core.versions.delete_version("models/fraud/versions/1", force=False)
        assert storage.keys() == [sha256(data)], "the running import may still store these bytes"
    finally:
        gate.set()
    await core.imports.wait_idle()
    done = await core.imports.get_operation(f"models/fraud/operations/{operation.operation_id}")
    assert done.error is not None
    assert (done.error.code, done.error.reason) == (3, "ARTIFACT_CHECKSUM_MISMATCH")
    assert (await core.versions.get_version("models/fraud/versions/2")).state == VersionState.FAILED
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
