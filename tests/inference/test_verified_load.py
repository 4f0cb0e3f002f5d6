"""What ONNX Runtime loads is exactly the bytes whose checksum was verified, however the cached file
changes after its check."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from services.inference.artifacts import ArtifactCache, CachedArtifact
from services.inference.deployment import DeploymentSpec, DeploymentState, TrafficTarget
from services.inference.errors import ArtifactError
from services.inference.repository import ModelRepository
from services.inference.sessions import ExecutionOptions, ModelSession, create_session

from .support import CPU, raw_input, scale_model

ONE = np.ones((1, 4), np.float32)
RIGHT, WRONG = scale_model(2.0), scale_model(-7.0)


def _store(tmp_path: Path, data: bytes = RIGHT) -> tuple[Path, str, str]:
    source = tmp_path / "store" / "model.onnx"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(data)
    return source, source.as_uri(), hashlib.sha256(data).hexdigest()


def _fetched(cache: ArtifactCache, uri: str, sha256: str) -> CachedArtifact:
    return asyncio.run(cache.fetch(uri, sha256))


def _factor(session: ModelSession) -> float:
    return float(session.run({"x": ONE})["y"][0, 0])


def test_a_file_changed_between_its_check_and_the_load_is_not_what_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, uri, sha = _store(tmp_path)
    artifact = _fetched(ArtifactCache(tmp_path / "cache"), uri, sha)
    real = ort.InferenceSession

    def swapped_first(*args: Any, **kwargs: Any) -> Any:
        # Another process writes the cached file after every check, as ONNX Runtime starts loading.
        Path(artifact).write_bytes(WRONG)
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", swapped_first)
    session = create_session(artifact, CPU)
    assert artifact.read_bytes() == WRONG
    assert _factor(session) == 2.0


class _CorruptedAfterFetch(ArtifactCache):
    """A cache whose copy goes bad right after each fetch verified it, before the load reads it."""

    def __init__(self, directory: Path, *, store: Path | None = None) -> None:
        super().__init__(directory)
        self.store = store
        """When set, the artifact store is removed along with the copy: it cannot be fetched again."""

    async def fetch(self, uri: str, sha256: str) -> CachedArtifact:
        artifact = await super().fetch(uri, sha256)
        await asyncio.to_thread(self._spoil, Path(artifact))
        return artifact

    def _spoil(self, copy: Path) -> None:
        copy.write_bytes(WRONG)  # a disk error, or a process writing where it should not
        if self.store is not None:
            self.store.unlink()


class _CountedReads(ArtifactCache):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.reads = 0

    def read(self, uri: str, sha256: str) -> bytes:
        self.reads += 1
        return super().read(uri, sha256)


def _spec(uri: str, sha: str, instances: int) -> DeploymentSpec:
    target = TrafficTarget("models/m/versions/1", uri, sha, 100)
    return DeploymentSpec("deployments/scaler", (target,), tenant="acme", instances=instances)


async def test_a_cached_file_corrupted_after_the_fetch_is_fetched_again_and_the_right_model_serves(
    tmp_path: Path,
) -> None:
    _, uri, sha = _store(tmp_path)
    repo = ModelRepository(_CorruptedAfterFetch(tmp_path / "cache"), session_factory=create_session)
    try:
        status = await repo.apply(_spec(uri, sha, instances=2))
        assert status.state == DeploymentState.READY
        for _ in range(4):  # both instances
            result = await repo.infer("scaler", "", [raw_input("x", ONE)], tenant="acme")
            np.testing.assert_array_equal(result.outputs[0].data, ONE * 2.0)
        assert (tmp_path / "cache" / f"{sha}.onnx").read_bytes() == RIGHT
    finally:
        await repo.close()


async def test_a_copy_gone_bad_while_the_store_is_unreachable_fails_as_unavailable_not_invalid(
    tmp_path: Path,
) -> None:
    # Retried (the store comes back), where an invalid model waits for a new spec.
    source, uri, sha = _store(tmp_path)
    repo = ModelRepository(
        _CorruptedAfterFetch(tmp_path / "cache", store=source), session_factory=create_session
    )
    try:
        status = await repo.apply(_spec(uri, sha, instances=2))
        assert status.state == DeploymentState.FAILED
        assert {c.reason for c in status.conditions if c.type == "LoadFailed"} == {"ARTIFACT_UNAVAILABLE"}
    finally:
        await repo.close()


async def test_the_instances_of_a_version_share_one_read_of_the_model_held_only_while_they_open(
    tmp_path: Path,
) -> None:
    _, uri, sha = _store(tmp_path)
    cache = _CountedReads(tmp_path / "cache")
    opened: list[CachedArtifact] = []
    models: list[bytes] = []
    lock = threading.Lock()

    def open_session(artifact: Path, options: ExecutionOptions) -> ModelSession:
        assert isinstance(artifact, CachedArtifact)
        with lock:
            opened.append(artifact)
            models.append(artifact.read_verified())
        return create_session(artifact, CPU)

    repo = ModelRepository(cache, session_factory=open_session)
    try:
        status = await repo.apply(_spec(uri, sha, instances=3))
        assert status.state == DeploymentState.READY
        assert cache.reads == 1
        assert len(models) == 3
        assert all(m is models[0] for m in models)
        assert models[0] == RIGHT
        models.clear()
        # Once the instances are open the load lets go of the bytes: another read reads the file.
        assert opened[0].read_verified() == RIGHT
        assert cache.reads == 2
    finally:
        await repo.close()


def test_a_cached_file_that_cannot_be_made_right_again_is_never_loaded(tmp_path: Path) -> None:
    source, uri, sha = _store(tmp_path)
    artifact = _fetched(ArtifactCache(tmp_path / "cache"), uri, sha)
    # The store now holds other bytes than the registry recorded: fetching again cannot repair the copy.
    source.write_bytes(WRONG)
    Path(artifact).write_bytes(WRONG)
    with pytest.raises(ArtifactError) as raised:
        create_session(artifact, CPU)
    assert raised.value.reason == "CHECKSUM_MISMATCH"


def test_a_cached_file_rewritten_whenever_it_is_read_fails_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, uri, sha = _store(tmp_path)
    cache = ArtifactCache(tmp_path / "cache")
    artifact = _fetched(cache, uri, sha)
    real_read = Path.read_bytes

    def rewritten_then_read(self: Path) -> bytes:
        if self == artifact:
            Path(artifact).write_bytes(WRONG)
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", rewritten_then_read)
    with pytest.raises(ArtifactError) as raised:
        create_session(artifact, CPU)
    assert raised.value.reason == "CHECKSUM_MISMATCH"
    assert str(cache.directory) in raised.value.message


def test_a_path_derived_from_an_artifact_is_not_taken_for_it(tmp_path: Path) -> None:
    artifact = CachedArtifact.of(ArtifactCache(tmp_path), "file:///model.onnx", "0" * 64)
    sibling = artifact.with_name("other.onnx")
    sibling.write_bytes(RIGHT)
    with pytest.raises(ValueError, match="not a fetched artifact"):
        create_session(sibling, CPU)


def test_a_session_keeps_no_copy_of_the_model(tmp_path: Path) -> None:
    model = scale_model(3.0)
    before = sys.getrefcount(model)
    session = create_session(model, CPU)
    assert sys.getrefcount(model) == before
    assert _factor(session) == 3.0
    path = tmp_path / "model.onnx"
    path.write_bytes(model)
    assert _factor(create_session(path, CPU)) == 3.0
