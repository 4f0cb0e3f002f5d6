"""Uploads: a good file becomes a READY version with its signature; a bad one leaves nothing behind."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, NoReturn

import pytest

from services.models.artifact_refs import ArtifactReferences
from services.models.core import ModelsCore
from services.models.domain import TensorSignature
from services.models.enums import ArtifactFormat, TensorType, VersionState
from services.models.uploads import UploadMetadata
from services.runtime.errors import Code, InvalidArgument, NotFound, ResourceExhausted
from services.runtime.store import Database, create_database_engine

from .helpers import chunks_of, create_model, upload
from .onnx_models import OPSET, identity_model, non_utf8_name_model, sha256, tiny_model, unique_model

pytestmark = pytest.mark.usefixtures("caller")


def _files(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.exists() else []


async def _nothing_left(core: ModelsCore, staging_dir: Path) -> None:
    page = await core.versions.list_versions("models/fraud", 0, "", "")
    assert page.items == ()
    assert core.artifacts.storage.keys() == []
    assert _files(staging_dir) == []
    assert (await core.registry.get_model("models/fraud")).latest_version is None


async def test_upload_stores_the_artifact_and_reads_the_signature(core: ModelsCore) -> None:
    await create_model(core)
    data = tiny_model(weights_as_input=True)
    version = await upload(core, data=data, description="first")
    assert (version.version, version.state, version.format) == (1, VersionState.READY, ArtifactFormat.ONNX)
    assert (version.sha256, version.size_bytes, version.onnx_opset) == (sha256(data), len(data), OPSET)
    assert version.creator == "alice"
    assert version.description == "first"
    # Initializers listed as graph inputs are weights, not inputs a client feeds.
    assert version.inputs == (TensorSignature("features", TensorType.FP32, (-1, 4)),)
    assert version.outputs == (TensorSignature("scores", TensorType.FP32, (-1, 2)),)
    assert version.artifact_uri == core.artifacts.storage.uri(version.sha256)
    assert core.artifacts.storage.keys() == [version.sha256]
    assert (await core.registry.get_model("models/fraud")).latest_version == 1


async def test_versions_are_numbered_per_model(core: ModelsCore) -> None:
    await create_model(core, "a")
    await create_model(core, "b")
    assert (await upload(core, "a")).version == 1
    assert (await upload(core, "a", tiny_model(seed=1))).version == 2
    assert (await upload(core, "b")).version == 1


async def _fail(core: ModelsCore, metadata: UploadMetadata, chunks: AsyncIterator[bytes]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        await core.uploads.upload(metadata, chunks)
    return raised.value


async def test_a_truncated_stream_leaves_nothing(core: ModelsCore, staging_dir: Path) -> None:
    await create_model(core)
    data = tiny_model()
    error = await _fail(core, UploadMetadata("models/fraud", sha256(data), len(data)), chunks_of(data[:-10]))
    assert error.reason == "ARTIFACT_TRUNCATED"
    await _nothing_left(core, staging_dir)


async def test_more_bytes_than_declared_leave_nothing(core: ModelsCore, staging_dir: Path) -> None:
    await create_model(core)
    data = tiny_model()
    error = await _fail(core, UploadMetadata("models/fraud", sha256(data), len(data) - 1), chunks_of(data))
    assert error.reason == "ARTIFACT_SIZE_MISMATCH"
    await _nothing_left(core, staging_dir)


async def test_a_checksum_mismatch_leaves_nothing(core: ModelsCore, staging_dir: Path) -> None:
    await create_model(core)
    data = tiny_model()
    error = await _fail(core, UploadMetadata("models/fraud", "0" * 64, len(data)), chunks_of(data))
    assert error.reason == "ARTIFACT_CHECKSUM_MISMATCH"
    await _nothing_left(core, staging_dir)


async def test_a_file_that_is_not_onnx_leaves_nothing(core: ModelsCore, staging_dir: Path) -> None:
    await create_model(core)
    data = b"definitely not a model" * 50
    error = await _fail(core, UploadMetadata("models/fraud", sha256(data), len(data)), chunks_of(data))
    assert error.reason == "ARTIFACT_NOT_ONNX"
    await _nothing_left(core, staging_dir)


@pytest.mark.parametrize("data", [non_utf8_name_model(), identity_model("x\x00")])
async def test_a_model_with_unstorable_tensor_names_leaves_nothing(
    core: ModelsCore, staging_dir: Path, data: bytes
) -> None:
    await create_model(core)
    error = await _fail(core, UploadMetadata("models/fraud", sha256(data), len(data)), chunks_of(data))
    assert error.code == Code.INVALID_ARGUMENT
    assert error.reason == "ARTIFACT_NOT_ONNX"
    await _nothing_left(core, staging_dir)


async def test_an_upload_over_the_limit_is_refused_before_reading(
    core: ModelsCore, staging_dir: Path
) -> None:
    await create_model(core)
    read = False

    async def never() -> AsyncIterator[bytes]:
        nonlocal read
        read = True
        yield b""

    error = await _fail(core, UploadMetadata("models/fraud", "a" * 64, 1024 * 1024 + 1), never())
    assert error.reason == "ARTIFACT_TOO_LARGE"
    assert not read
    assert error.violations[0].field == "metadata.size_bytes"
    await _nothing_left(core, staging_dir)


async def test_a_cancelled_upload_leaves_nothing(core: ModelsCore, staging_dir: Path) -> None:
    await create_model(core)
    data = tiny_model()
    first_chunk_sent = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield data[:10]
        first_chunk_sent.set()
        await asyncio.Event().wait()
        yield b""

    task = asyncio.create_task(
        core.uploads.upload(UploadMetadata("models/fraud", sha256(data), len(data)), stalls())
    )
    await first_chunk_sent.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _nothing_left(core, staging_dir)


async def test_metadata_is_checked_field_by_field(core: ModelsCore) -> None:
    error = await _fail(core, UploadMetadata("models/fraud", "nothex", 0), chunks_of(b""))
    assert {v.field for v in error.violations} == {"metadata.sha256", "metadata.size_bytes"}
    with pytest.raises(InvalidArgument):
        await core.uploads.upload(UploadMetadata("fraud", "a" * 64, 1), chunks_of(b"x"))


async def test_upload_to_a_missing_model_is_not_found(core: ModelsCore) -> None:
    data = tiny_model()
    with pytest.raises(NotFound):
        await core.uploads.upload(UploadMetadata("models/ghost", sha256(data), len(data)), chunks_of(data))


async def test_equal_files_share_one_artifact_until_the_last_version_goes(core: ModelsCore) -> None:
    await create_model(core)
    data = unique_model()
    first = await upload(core, data=data)
    second = await upload(core, data=data)
    assert first.sha256 == second.sha256
    assert core.artifacts.storage.keys() == [first.sha256]
    await core.versions.delete_version("models/fraud/versions/1", force=False)
    assert core.artifacts.storage.keys() == [first.sha256]
    await core.versions.delete_version("models/fraud/versions/2", force=False)
    assert core.artifacts.storage.keys() == []


async def test_another_replica_holding_a_checksum_holds_back_its_release(
    core: ModelsCore, store_url: str
) -> None:
    """A replica between storing an artifact and committing its row holds the checksum's lock; a
    release by any other replica of the same store waits, so it cannot delete the file under it."""
    await create_model(core)
    version = await upload(core, data=unique_model())
    other = Database(create_database_engine(store_url))  # another process's connection to the store
    try:
        replica = ArtifactReferences(other, core.artifacts.storage)
        async with replica.locks.hold(version.sha256):
            delete = asyncio.create_task(core.versions.delete_version("models/fraud/versions/1", force=False))
            await asyncio.sleep(0.3)
            assert not delete.done(), "the release must wait for the replica's commit"
            assert core.artifacts.storage.keys() == [version.sha256]
        await asyncio.wait_for(delete, 10)
        assert core.artifacts.storage.keys() == [], "unreferenced once the replica let go"
    finally:
        other.dispose()


async def test_a_full_disk_is_resource_exhausted_and_leaves_nothing(
    core: ModelsCore, staging_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(out: IO[bytes], digest: object, chunk: bytes) -> NoReturn:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("services.models.staging._write", full)
    await create_model(core)
    data = tiny_model()
    with pytest.raises(ResourceExhausted) as raised:
        await core.uploads.upload(UploadMetadata("models/fraud", sha256(data), len(data)), chunks_of(data))
    assert raised.value.reason == "STORAGE_FULL"
    await _nothing_left(core, staging_dir)
