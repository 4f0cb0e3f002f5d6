"""Loading, routing, swapping and draining versions: redeploys fail no request."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto

from services.inference.artifacts import ArtifactCache
from services.inference.deployment import DeploymentSpec, DeploymentState, DeploymentStatus, TrafficTarget
from services.inference.errors import ArtifactError, ModelNotFound, VersionNotFound
from services.inference.execution import BatchingOptions
from services.inference.preprocessing import PreprocessSpec, preprocess
from services.inference.repository import ModelRepository
from services.inference.sessions import ExecutionOptions, ModelSession, create_session
from services.inference.signature import Signature, TensorSpec
from services.inference.version import InferenceResult
from services.runtime.errors import InvalidArgument

from .calls import eventually
from .support import CPU, identity_model, raw_input, scale_model

ONE = np.ones((1, 4), np.float32)


class GatedSession:
    """A real session whose runs wait at a gate the test controls."""

    def __init__(self, inner: ModelSession, gate: threading.Event) -> None:
        self._inner = inner
        self._gate = gate

    @property
    def signature(self) -> Signature:
        return self._inner.signature

    @property
    def device(self) -> str:
        return self._inner.device

    @property
    def providers(self) -> tuple[str, ...]:
        return self._inner.providers

    @property
    def xp(self) -> ModuleType:
        return self._inner.xp

    def activate(self) -> None:
        self._inner.activate()

    def to_device(self, array: np.ndarray) -> Any:
        return self._inner.to_device(array)

    def run(self, feeds: Any) -> dict[str, np.ndarray]:
        assert self._gate.wait(5), "test gate never opened"
        return self._inner.run(feeds)


class Artifacts:
    """Model files on disk with their checksums, as the registry would record them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir()

    def target(
        self, version: int, percent: int, *, factor: float | None = None, sha256: str = ""
    ) -> TrafficTarget:
        path = self.directory / f"v{version}.onnx"
        if not path.exists():
            path.write_bytes(scale_model(float(version) if factor is None else factor))
        digest = sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
        return TrafficTarget(f"models/m/versions/{version}", path.as_uri(), digest, percent)


def spec(*targets: TrafficTarget, generation: int = 1, **overrides: Any) -> DeploymentSpec:
    settings: dict[str, Any] = {"batching": BatchingOptions(max_batch_size=8, max_queue_delay_us=500)}
    settings.update(overrides)
    return DeploymentSpec("deployments/scaler", targets, tenant="acme", generation=generation, **settings)


@pytest.fixture
def artifacts(tmp_path: Path) -> Artifacts:
    return Artifacts(tmp_path / "store")


@pytest.fixture
def statuses() -> list[DeploymentStatus]:
    return []


@pytest.fixture
def gates() -> dict[str, threading.Event]:
    return {}


@pytest.fixture
async def repository(
    tmp_path: Path, statuses: list[DeploymentStatus], gates: dict[str, threading.Event]
) -> Any:
    def open_gated(path: Path, options: ExecutionOptions) -> ModelSession:
        # Cached artifacts are named by checksum: one gate per artifact, open by default.
        gate = gates.setdefault(path.stem, threading.Event())
        gate.set()
        return GatedSession(create_session(path, CPU), gate)

    repo = ModelRepository(
        ArtifactCache(tmp_path / "cache"), session_factory=open_gated, on_status=statuses.append
    )
    yield repo
    for gate in gates.values():
        gate.set()
    await repo.close()


def _only_version(path: Path, model: bytes) -> TrafficTarget:
    """Version 1 of a model stored at ``path``, taking all traffic."""
    path.write_bytes(model)
    return TrafficTarget("models/m/versions/1", path.as_uri(), hashlib.sha256(model).hexdigest(), 100)


async def infer(repo: ModelRepository, version: str = "", x: np.ndarray = ONE) -> InferenceResult:
    return await repo.infer("scaler", version, [raw_input("x", x)], tenant="acme")


def factor_of(result: InferenceResult) -> float:
    return float(result.outputs[0].data[0, 0])


async def test_applied_deployment_serves_and_reports_ready(
    repository: ModelRepository, artifacts: Artifacts, statuses: list[DeploymentStatus]
) -> None:
    status = await repository.apply(spec(artifacts.target(1, 100)))
    assert status.state == DeploymentState.READY
    assert [s.state for s in statuses] == [DeploymentState.PENDING, DeploymentState.READY]
    (loaded,) = status.loaded_versions
    assert (loaded.version, loaded.ready_instances, loaded.device) == ("models/m/versions/1", 1, "cpu")
    assert loaded.execution_providers == ("CPUExecutionProvider",)
    types = {c.type: (c.status, c.reason) for c in status.conditions}
    assert types == {"Ready": (True, "ALL_VERSIONS_LOADED"), "Loaded": (True, "LOADED")}
    result = await infer(repository, x=np.full((2, 4), 3.0, np.float32))
    assert (result.model_name, result.model_version) == ("scaler", "1")
    np.testing.assert_array_equal(result.outputs[0].data, np.full((2, 4), 3.0))
    (version,) = repository.versions("scaler", tenant="acme")
    assert version.request_signature.inputs == (TensorSpec("x", "FP32", (-1, 4), ("batch", "")),)


async def test_unknown_models_other_tenants_and_unloaded_versions_are_not_found(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    await repository.apply(spec(artifacts.target(1, 100)))
    with pytest.raises(ModelNotFound):
        await repository.infer("other", "", [raw_input("x", ONE)], tenant="acme")
    with pytest.raises(ModelNotFound):
        await repository.infer("scaler", "", [raw_input("x", ONE)], tenant="globex")
    with pytest.raises(VersionNotFound) as caught:
        await infer(repository, "2")
    assert caught.value.reason == "VERSION_NOT_FOUND"


async def test_traffic_split_is_exact_and_pinning_bypasses_it(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    await repository.apply(spec(artifacts.target(1, 75), artifacts.target(2, 25), artifacts.target(3, 0)))
    served = Counter([factor_of(await infer(repository)) for _ in range(100)])
    assert served == {1.0: 75, 2.0: 25}
    assert {factor_of(await infer(repository, "3")) for _ in range(5)} == {3.0}
    assert {factor_of(await infer(repository, "2")) for _ in range(5)} == {2.0}


async def test_a_request_rejected_before_it_is_routed_counts_against_the_split_or_its_pin(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    await repository.apply(spec(artifacts.target(1, 75), artifacts.target(2, 25), artifacts.target(3, 0)))
    error = InvalidArgument("unreadable inputs", reason="RAW_CONTENTS_MISMATCH")
    arrival = time.monotonic_ns()
    for _ in range(100):
        repository.reject("scaler", "", error, tenant="acme", arrival_ns=arrival)
    repository.reject("scaler", "3", error, tenant="acme", arrival_ns=arrival)
    # Nothing loaded to count these in: no error either, the caller raises its own.
    repository.reject("scaler", "9", error, tenant="acme", arrival_ns=arrival)
    repository.reject("other", "", error, tenant="acme", arrival_ns=arrival)
    repository.reject("scaler", "", error, tenant="globex", arrival_ns=arrival)

    failed = {v.version: v.stats.inference.fail.count for v in repository.versions("scaler", tenant="acme")}
    assert failed == {"1": 75, "2": 25, "3": 1}
    # The split goes on where the rejected requests left it: a full cycle again.
    served = Counter([factor_of(await infer(repository)) for _ in range(100)])
    assert served == {1.0: 75, 2.0: 25}


async def test_re_applying_an_unchanged_split_keeps_its_shares(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    stable, canary = artifacts.target(1, 90), artifacts.target(2, 10)
    await repository.apply(spec(stable, canary))
    served: Counter[float] = Counter()
    for generation in range(2, 6):
        for _ in range(5):
            served[factor_of(await infer(repository))] += 1
        # A change that leaves the split alone (a version added at 0%), then a retry of that spec.
        changed = spec(stable, canary, artifacts.target(generation + 1, 0), generation=generation)
        await repository.apply(changed)
        await repository.apply(changed, again=True)
    assert served == {1.0: 18, 2.0: 2}, "the canary gets its 10% although the split is re-applied often"


async def test_redeploys_under_concurrent_load_fail_no_request(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    await repository.apply(spec(artifacts.target(1, 100)))
    stop = asyncio.Event()
    served: Counter[float] = Counter()
    failures: list[BaseException] = []

    async def client() -> None:
        while not stop.is_set():
            try:
                served[factor_of(await infer(repository))] += 1
            except Exception as error:
                failures.append(error)
            await asyncio.sleep(0)

    clients = [asyncio.ensure_future(client()) for _ in range(16)]
    retired = []
    for step, targets in enumerate(
        [
            (artifacts.target(1, 50), artifacts.target(2, 50)),
            (artifacts.target(2, 100),),
            (artifacts.target(2, 100), artifacts.target(3, 0)),
            (artifacts.target(1, 100),),
        ],
        start=2,
    ):
        before = repository.versions("scaler", tenant="acme")
        status = await repository.apply(spec(*targets, generation=step))
        assert status.state == DeploymentState.READY
        after = repository.versions("scaler", tenant="acme")
        retired += [v for v in before if v not in after]
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*clients)
    assert failures == []
    assert served[1.0] > 0
    assert served[2.0] > 0
    assert 3.0 not in served
    assert sum(served.values()) > 100
    await asyncio.wait_for(asyncio.gather(*(v.closed.wait() for v in retired)), 2)
    assert all(v.in_flight == 0 for v in retired)


async def test_a_retired_version_unloads_only_after_its_last_request(
    repository: ModelRepository, artifacts: Artifacts, gates: dict[str, threading.Event]
) -> None:
    first = artifacts.target(1, 100)
    await repository.apply(spec(first))
    (old,) = repository.versions("scaler", tenant="acme")
    gates[first.sha256].clear()
    in_flight = asyncio.ensure_future(infer(repository))
    await asyncio.sleep(0.02)
    assert old.in_flight == 1
    status = await repository.apply(spec(artifacts.target(2, 100), generation=2))
    assert [(v.version, v.draining) for v in status.loaded_versions] == [
        ("models/m/versions/2", False),
        ("models/m/versions/1", True),
    ]
    assert factor_of(await infer(repository)) == 2.0, "new requests go to the new version at once"
    await asyncio.sleep(0.05)
    assert not old.closed.is_set(), "a version with a request in flight must not unload"
    gates[first.sha256].set()
    assert factor_of(await in_flight) == 1.0
    await asyncio.wait_for(old.closed.wait(), 2)
    final = repository.status("scaler", tenant="acme")
    assert [v.version for v in final.loaded_versions] == ["models/m/versions/2"]


async def test_checksum_mismatch_keeps_the_previous_version_serving(
    repository: ModelRepository, artifacts: Artifacts, tmp_path: Path
) -> None:
    await repository.apply(spec(artifacts.target(1, 100)))
    status = await repository.apply(spec(artifacts.target(2, 100, sha256="ab" * 32), generation=2))
    assert status.state == DeploymentState.DEGRADED
    failed = [c for c in status.conditions if c.type == "LoadFailed"]
    assert [(c.version, c.reason) for c in failed] == [("models/m/versions/2", "CHECKSUM_MISMATCH")]
    assert "SHA-256" in failed[0].message
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == (False, "PREVIOUS_VERSIONS_SERVING")
    assert [v.version for v in status.loaded_versions] == ["models/m/versions/1"]
    assert {factor_of(await infer(repository)) for _ in range(5)} == {1.0}
    with pytest.raises(VersionNotFound):
        await infer(repository, "2")
    assert not list((tmp_path / "cache").glob("abab*")), "a mismatching artifact must not enter the cache"


async def test_a_partial_failure_routes_to_the_versions_that_loaded(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    await repository.apply(spec(artifacts.target(1, 100)))
    missing = TrafficTarget(
        "models/m/versions/9", (artifacts.directory / "gone.onnx").as_uri(), "cd" * 32, 50
    )
    status = await repository.apply(spec(artifacts.target(2, 50), missing, generation=2))
    assert status.state == DeploymentState.DEGRADED
    assert {c.reason for c in status.conditions if c.type == "LoadFailed"} == {"ARTIFACT_UNAVAILABLE"}
    assert {factor_of(await infer(repository)) for _ in range(6)} == {2.0}


async def test_a_first_deploy_that_cannot_load_fails_and_serves_nothing(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    status = await repository.apply(spec(artifacts.target(1, 100, sha256="00" * 32)))
    assert status.state == DeploymentState.FAILED
    assert status.loaded_versions == ()
    with pytest.raises(ModelNotFound):
        await infer(repository)


async def test_cached_artifacts_load_while_the_source_is_unreachable(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    target = artifacts.target(1, 100)
    await repository.apply(spec(target))
    (artifacts.directory / "v1.onnx").unlink()
    status = await repository.apply(spec(target, generation=2, instances=2))  # a redeploy reloads
    assert status.state == DeploymentState.READY
    assert status.loaded_versions[0].ready_instances == 2
    assert factor_of(await infer(repository)) == 1.0


async def test_stale_generations_are_ignored(repository: ModelRepository, artifacts: Artifacts) -> None:
    await repository.apply(spec(artifacts.target(2, 100), generation=5))
    status = await repository.apply(spec(artifacts.target(1, 100), generation=4))
    assert status.generation == 5
    assert factor_of(await infer(repository)) == 2.0


async def test_remove_stops_routing_and_unloads(
    repository: ModelRepository, artifacts: Artifacts, statuses: list[DeploymentStatus]
) -> None:
    await repository.apply(spec(artifacts.target(1, 100)))
    (version,) = repository.versions("scaler", tenant="acme")
    await repository.remove("scaler", tenant="acme")
    assert version.closed.is_set()
    assert DeploymentState.DELETING in [s.state for s in statuses]
    with pytest.raises(ModelNotFound):
        await infer(repository)
    with pytest.raises(ModelNotFound):
        repository.status("scaler", tenant="acme")


async def test_preprocessing_runs_before_the_model_and_changes_the_published_input(
    repository: ModelRepository, tmp_path: Path
) -> None:
    target = _only_version(tmp_path / "image.onnx", identity_model(TensorProto.FLOAT, ["batch", 3, 4, 4]))
    pre = PreprocessSpec("x", resize_height=4, resize_width=4, scale=1 / 255, means=(0.5,), stds=(0.25,))
    await repository.apply(spec(target, preprocessing=(pre,)))
    (version,) = repository.versions("scaler", tenant="acme")
    assert version.request_signature.inputs == (
        TensorSpec("x", "UINT8", (-1, -1, -1, 3), ("batch", "", "", ""), nonempty_axes=(1, 2)),
    )
    image = np.random.default_rng(2).integers(0, 256, (2, 6, 5, 3), dtype=np.uint8)
    result = await repository.infer("scaler", "", [raw_input("x", image, "UINT8")], tenant="acme")
    np.testing.assert_allclose(result.outputs[0].data, preprocess(np, image, pre), rtol=1e-6)


async def test_an_image_that_preprocessing_overflows_fails_alone_beside_one_sent_with_an_infinity(
    repository: ModelRepository, tmp_path: Path
) -> None:
    target = _only_version(tmp_path / "half.onnx", identity_model(TensorProto.FLOAT16, ["batch", 1, 1, 2]))
    pre = PreprocessSpec("x", source_datatype="FP32", target_datatype="FP16", stds=(0.5,))
    # Both requests wait for each other, so that they share one batch.
    batching = BatchingOptions(max_batch_size=2, max_queue_delay_us=5_000_000, hold_lone_requests=True)
    await repository.apply(spec(target, preprocessing=(pre,), batching=batching))
    sent_infinity = np.array([[[[np.inf], [1.0]]]], np.float32)
    overflowing = np.array([[[[1.0], [40000.0]]]], np.float32)
    results = await asyncio.gather(
        *(
            repository.infer("scaler", "", [raw_input("x", image)], tenant="acme")
            for image in (sent_infinity, overflowing)
        ),
        return_exceptions=True,
    )
    assert isinstance(results[0], InferenceResult), results[0]
    assert results[0].outputs[0].data.ravel().tolist() == [np.inf, 2.0]
    assert isinstance(results[1], InvalidArgument), results[1]
    assert results[1].reason == "PREPROCESSED_OUT_OF_RANGE"


async def test_invalid_preprocessing_fails_the_load(
    repository: ModelRepository, artifacts: Artifacts
) -> None:
    pre = PreprocessSpec("x")  # the scale model takes [B,4], not an image
    status = await repository.apply(spec(artifacts.target(1, 100), preprocessing=(pre,)))
    assert status.state == DeploymentState.FAILED
    assert [c.reason for c in status.conditions if c.type == "LoadFailed"] == ["PREPROCESSING_INVALID"]


async def test_concurrent_fetches_of_one_artifact_share_one_download(
    tmp_path: Path, artifacts: Artifacts
) -> None:
    target = artifacts.target(1, 100)
    cache = ArtifactCache(tmp_path / "shared-cache")
    paths = await asyncio.gather(*(cache.fetch(target.artifact_uri, target.sha256) for _ in range(4)))
    assert len(set(paths)) == 1
    assert paths[0].read_bytes() == (artifacts.directory / "v1.onnx").read_bytes()
    assert sorted(p.name for p in (tmp_path / "shared-cache").iterdir()) == [f"{target.sha256}.onnx"]
    with pytest.raises(ArtifactError) as caught:
        await cache.fetch(target.artifact_uri, "not-a-digest")
    assert caught.value.reason == "CHECKSUM_MISMATCH"


async def test_a_corrupted_cache_file_is_fetched_again(tmp_path: Path, artifacts: Artifacts) -> None:
    target = artifacts.target(1, 100)
    cache = ArtifactCache(tmp_path / "cache")
    path = await cache.fetch(target.artifact_uri, target.sha256)
    path.write_bytes(b"corrupt")
    again = await cache.fetch(target.artifact_uri, target.sha256)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == target.sha256


async def test_versions_loaded_by_an_apply_cancelled_midway_are_unloaded(
    tmp_path: Path, artifacts: Artifacts
) -> None:
    quick, slow = artifacts.target(1, 50), artifacts.target(2, 50)
    gate = threading.Event()

    def open_session(path: Path, options: ExecutionOptions) -> ModelSession:
        if path.stem == slow.sha256:
            assert gate.wait(10), "test gate never opened"
        return create_session(path, CPU)

    repo = ModelRepository(ArtifactCache(tmp_path / "cache"), session_factory=open_session)
    try:
        applying = asyncio.create_task(repo.apply(spec(quick, slow)))
        await eventually(lambda: _batchers_running(1), what="version 1 to load")

        applying.cancel()  # shutdown while version 2 still loads
        with contextlib.suppress(asyncio.CancelledError):
            await applying
        gate.set()

        await eventually(lambda: _batchers_running(0), what="version 1 to unload")
    finally:
        gate.set()
        await repo.close()


async def _batchers_running(count: int) -> bool:
    running = [t for t in asyncio.all_tasks() if t.get_name().startswith("batcher-") and not t.done()]
    return len(running) == count
