"""The deployment controller over a real repository, with the registry replaced by a table."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from inference import grpc_service_pb2 as pb
from services.inference.artifacts import ArtifactCache
from services.inference.controller import DeploymentController
from services.inference.deployment import DeploymentState, DeploymentStatus
from services.inference.errors import ArtifactError, ModelNotFound, ModelNotReady
from services.inference.repository import ModelRepository
from services.inference.servicer import InferenceServicer
from services.inference.telemetry import InferenceTelemetry
from services.inference.wanted import Artifact, WantedDeployment
from services.runtime.errors import FailedPrecondition, Unavailable

from .calls import at_least, eventually
from .support import raw_input, scale_model

ONE = np.ones((1, 4), np.float32)


class Registry:
    """Versions by name; a name mapped to an exception raises it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.versions: dict[str, Artifact | Exception] = {}
        self.lookups = 0

    def add(self, version: int) -> str:
        name = f"models/m/versions/{version}"
        path = self.directory / f"v{version}.onnx"
        path.write_bytes(scale_model(float(version)))
        self.versions[name] = Artifact(path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest())
        return name

    async def resolve(self, tenant: str, version: str) -> Artifact:
        self.lookups += 1
        found = self.versions.get(version) or ArtifactError(f"{version} unknown", reason="VERSION_UNRESOLVED")
        if isinstance(found, Exception):
            raise found
        return found


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    (tmp_path / "store").mkdir()
    return Registry(tmp_path / "store")


@pytest.fixture
def statuses() -> list[DeploymentStatus]:
    return []


@pytest.fixture
async def repository(tmp_path: Path, statuses: list[DeploymentStatus]) -> AsyncIterator[ModelRepository]:
    repo = ModelRepository(ArtifactCache(tmp_path / "cache"), on_status=statuses.append)
    yield repo
    await repo.close()


@pytest.fixture
async def controller(repository: ModelRepository, registry: Registry) -> AsyncIterator[DeploymentController]:
    built = DeploymentController(repository, registry, retry_min_seconds=0.01, retry_max_seconds=0.05)
    yield built
    await built.close()


def wanted(*split: tuple[str, int], generation: int = 1, name: str = "scaler") -> WantedDeployment:
    return WantedDeployment(f"deployments/{name}", "acme", generation, tuple(split))


async def _served(
    repository: ModelRepository, generation: int, state: DeploymentState, name: str = "scaler"
) -> bool:
    try:
        status = repository.status(name, tenant="acme")
    except ModelNotFound:
        return False
    return status.generation == generation and status.state == state


async def _serve(controller: DeploymentController, repository: ModelRepository, version: str) -> None:
    """Deploy ``version`` at 100 % as generation 1 and wait until it serves."""
    controller.put(wanted((version, 100)))
    await eventually(lambda: _served(repository, 1, DeploymentState.READY), what="READY")


async def _answer(repository: ModelRepository) -> float:
    result = await repository.infer("scaler", "", [raw_input("x", ONE)], tenant="acme")
    return float(result.outputs[0].data[0, 0])


async def test_the_first_sync_completes_once_listed_deployments_are_applied(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    controller.begin_snapshot()
    controller.put(wanted((registry.add(2), 100)))
    controller.end_snapshot()

    await asyncio.wait_for(controller.synced.wait(), 10)

    assert repository.status("scaler", tenant="acme").state == DeploymentState.READY
    assert await _answer(repository) == 2.0


async def test_an_empty_first_sync_is_ready_at_once(controller: DeploymentController) -> None:
    controller.begin_snapshot()
    controller.end_snapshot()
    await asyncio.wait_for(controller.synced.wait(), 1)


async def test_changes_arriving_while_one_loads_are_coalesced_into_the_latest(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    v1, v2, v3 = registry.add(1), registry.add(2), registry.add(3)
    for generation, version in enumerate((v1, v2, v3), start=1):
        controller.put(wanted((version, 100), generation=generation))
    controller.put(wanted((v1, 100), generation=1))  # stale: ignored

    await eventually(lambda: _served(repository, 3, DeploymentState.READY), what="generation 3")

    assert await _answer(repository) == 3.0
    assert registry.lookups <= 2, "the middle generation was never resolved"


async def test_unresolvable_versions_are_reported_failed_and_a_later_spec_recovers(
    controller: DeploymentController,
    repository: ModelRepository,
    registry: Registry,
    statuses: list[DeploymentStatus],
) -> None:
    controller.put(wanted(("models/m/versions/9", 100)))
    await eventually(lambda: _served(repository, 1, DeploymentState.FAILED), what="FAILED")
    [failed] = [c for c in statuses[-1].conditions if c.type == "LoadFailed"]
    assert (failed.reason, failed.version) == ("VERSION_UNRESOLVED", "models/m/versions/9")

    controller.put(wanted((registry.add(1), 100), generation=2))

    await eventually(lambda: _served(repository, 2, DeploymentState.READY), what="READY")
    assert await _answer(repository) == 1.0


async def test_an_unreachable_registry_is_retried_while_the_previous_spec_serves(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    await _serve(controller, repository, registry.add(1))
    v2 = "models/m/versions/2"
    registry.versions[v2] = Unavailable("registry down")

    controller.put(wanted((v2, 100), generation=2))
    await asyncio.sleep(0.1)
    assert await _answer(repository) == 1.0
    registry.add(2)

    await eventually(lambda: _served(repository, 2, DeploymentState.READY), what="retried")
    assert await _answer(repository) == 2.0


async def test_a_new_snapshot_drops_what_it_no_longer_lists_and_recreation_is_applied(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    v1 = registry.add(1)
    await _serve(controller, repository, v1)

    controller.begin_snapshot()
    controller.end_snapshot()
    await eventually(lambda: _gone(repository), what="removed")

    # Deleted and created again: generations start over, and the new one must still be served.
    controller.delete("acme", "scaler")
    controller.put(wanted((v1, 100), generation=1))
    await eventually(lambda: _served(repository, 1, DeploymentState.READY), what="recreated")


async def _gone(repository: ModelRepository) -> bool:
    return not repository.loaded()


async def test_unload_holds_until_load_or_a_new_spec(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    v1 = registry.add(1)
    await _serve(controller, repository, v1)

    await controller.unload("acme", "scaler")
    controller.put(wanted((v1, 100)))  # the same generation again (a reconnect): stays unloaded
    await asyncio.sleep(0.05)
    assert not repository.loaded()
    assert [e.state for e in controller.index("acme")] == ["UNAVAILABLE"]

    status = await controller.load("acme", "scaler")
    assert status.state == DeploymentState.READY
    assert [(e.name, e.version, e.state) for e in controller.index("acme")] == [("scaler", "1", "READY")]

    await controller.unload("acme", "scaler")
    controller.put(wanted((v1, 100), generation=2))
    await eventually(lambda: _served(repository, 2, DeploymentState.READY), what="a new spec loads")


async def test_a_load_answers_unavailable_while_versions_cannot_be_resolved_and_loads_later(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    v1 = registry.add(1)
    await _serve(controller, repository, v1)
    await controller.unload("acme", "scaler")
    artifact = registry.versions[v1]
    registry.versions[v1] = Unavailable("model management is unreachable")

    with pytest.raises(Unavailable, match="cannot be loaded now"):
        await asyncio.wait_for(controller.load("acme", "scaler"), 5)

    registry.versions[v1] = artifact
    await eventually(lambda: _served(repository, 1, DeploymentState.READY), what="loaded once resolvable")
    assert await _answer(repository) == 1.0


async def test_load_and_unload_of_unknown_deployments_are_not_found(controller: DeploymentController) -> None:
    with pytest.raises(ModelNotFound):
        await controller.load("acme", "nope")
    with pytest.raises(ModelNotFound):
        await controller.unload("acme", "nope")


async def test_loading_a_deployment_that_cannot_load_fails(controller: DeploymentController) -> None:
    controller.put(wanted(("models/m/versions/9", 100)))
    with pytest.raises(FailedPrecondition) as raised:
        await controller.load("acme", "scaler")
    assert raised.value.reason == "MODEL_LOAD_FAILED"


class Source:
    """Model management's current specs, as the controller reads them on an explicit load."""

    def __init__(self) -> None:
        self.specs: dict[str, WantedDeployment | None] = {}
        self.reads: list[tuple[str, str]] = []

    async def current(self, tenant: str, model_name: str) -> WantedDeployment | None:
        self.reads.append((tenant, model_name))
        if model_name not in self.specs:
            raise ModelNotFound(model_name)
        return self.specs[model_name]


@pytest.fixture
async def sourced(
    repository: ModelRepository, registry: Registry
) -> AsyncIterator[tuple[DeploymentController, Source]]:
    source = Source()
    built = DeploymentController(
        repository, registry, source=source, retry_min_seconds=0.01, retry_max_seconds=0.05
    )
    yield built, source
    await built.close()


async def test_a_load_serves_the_spec_model_management_holds_now(
    sourced: tuple[DeploymentController, Source], repository: ModelRepository, registry: Registry
) -> None:
    controller, source = sourced
    v1, v2 = registry.add(1), registry.add(2)
    await _serve(controller, repository, v1)
    await controller.unload("acme", "scaler")
    source.specs["scaler"] = wanted((v2, 100), generation=2)  # the watch has not delivered it yet

    status = await controller.load("acme", "scaler")

    assert source.reads == [("acme", "scaler")]
    assert (status.generation, status.state) == (2, DeploymentState.READY)
    assert await _answer(repository) == 2.0


async def test_a_load_falls_back_to_the_watched_spec_while_model_management_cannot_answer(
    sourced: tuple[DeploymentController, Source], repository: ModelRepository, registry: Registry
) -> None:
    controller, source = sourced
    await _serve(controller, repository, registry.add(3))
    await controller.unload("acme", "scaler")
    source.specs["scaler"] = None

    status = await controller.load("acme", "scaler")

    assert (status.generation, status.state) == (1, DeploymentState.READY)
    assert await _answer(repository) == 3.0


async def test_a_load_of_a_deployment_model_management_no_longer_has_is_not_found(
    sourced: tuple[DeploymentController, Source], repository: ModelRepository, registry: Registry
) -> None:
    controller, _ = sourced
    controller.put(wanted((registry.add(1), 100)))  # deleted since; the watch has not said so yet
    with pytest.raises(ModelNotFound):
        await controller.load("acme", "scaler")


async def test_a_second_synced_in_one_session_drops_nothing(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    controller.begin_snapshot()
    controller.put(wanted((registry.add(1), 100)))
    controller.end_snapshot()
    await asyncio.wait_for(controller.synced.wait(), 10)

    controller.end_snapshot()  # a duplicate SYNCED: no listing went before it
    await asyncio.sleep(0.05)

    assert await _answer(repository) == 1.0


def _incarnation(minute: int) -> datetime:
    return datetime(2030, 1, 1, 0, minute, tzinfo=UTC)


async def test_a_deployment_created_again_under_its_name_is_served_although_its_generation_is_lower(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    v1, v2 = registry.add(1), registry.add(2)
    old = _incarnation(1)
    controller.put(replace(wanted((v1, 100), generation=3), create_time=old))
    await eventually(lambda: _served(repository, 3, DeploymentState.READY), what="generation 3")
    await controller.unload("acme", "scaler")

    # Deleted and created again while the watch was away: the snapshot lists the new one only.
    controller.put(replace(wanted((v2, 100), generation=1), create_time=_incarnation(2)))
    await eventually(lambda: _served(repository, 1, DeploymentState.READY), what="the new deployment")
    assert await _answer(repository) == 2.0

    controller.put(replace(wanted((v1, 100), generation=4), create_time=old))  # late news of the old one
    controller.delete("acme", "scaler", create_time=old)
    await asyncio.sleep(0.05)
    assert repository.status("scaler", tenant="acme").generation == 1
    assert await _answer(repository) == 2.0


async def test_an_unload_does_not_wait_out_the_retry_of_an_unresolvable_spec(
    repository: ModelRepository, registry: Registry
) -> None:
    controller = DeploymentController(repository, registry, retry_min_seconds=60, retry_max_seconds=60)
    try:
        await _serve(controller, repository, registry.add(1))
        registry.versions["models/m/versions/2"] = Unavailable("model management is unreachable")
        controller.put(wanted(("models/m/versions/2", 100), generation=2))
        await eventually(lambda: at_least(registry.lookups, 2), what="the failed lookup")

        await asyncio.wait_for(controller.unload("acme", "scaler"), 10)

        assert not repository.loaded()
    finally:
        await controller.close()


async def test_a_closed_controller_loads_nothing_more(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    await _serve(controller, repository, registry.add(1))
    await controller.unload("acme", "scaler")
    await controller.close()

    # Shutting down: the repository is closed next, so a version loaded now would never be unloaded.
    with pytest.raises(Unavailable, match="shutting down"):
        await controller.load("acme", "scaler")
    await asyncio.sleep(0.05)

    assert not repository.loaded()


async def test_an_explicit_load_retries_a_version_whose_artifact_could_not_be_fetched(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    v1 = registry.add(1)
    stored = registry.directory / "v1.onnx"
    held = stored.read_bytes()
    stored.unlink()  # the artifact store is unreachable for a while
    controller.put(wanted((v1, 100)))
    await eventually(lambda: _served(repository, 1, DeploymentState.FAILED), what="FAILED")
    with pytest.raises(FailedPrecondition):
        await controller.load("acme", "scaler")

    stored.write_bytes(held)
    status = await controller.load("acme", "scaler")

    assert status.state == DeploymentState.READY
    assert await _answer(repository) == 1.0


async def test_a_version_whose_artifact_store_was_unreadable_loads_once_it_can_be_read(
    controller: DeploymentController,
    repository: ModelRepository,
    registry: Registry,
    statuses: list[DeploymentStatus],
) -> None:
    v1, v2 = registry.add(1), registry.add(2)
    stored = registry.directory / "v2.onnx"
    held = stored.read_bytes()
    stored.unlink()  # the artifact store cannot serve version 2 for a while
    controller.put(wanted((v1, 50), (v2, 50)))
    await eventually(lambda: _served(repository, 1, DeploymentState.DEGRADED), what="DEGRADED")
    degraded_at = len(statuses)

    stored.write_bytes(held)
    await eventually(lambda: _served(repository, 1, DeploymentState.READY), what="READY with no load asked")

    loaded = {v.version for v in repository.status("scaler", tenant="acme").loaded_versions}
    assert loaded == {v1, v2}
    # The retries left version 1 serving and the deployment DEGRADED until version 2 loaded.
    assert [s.state for s in statuses[degraded_at:-1]] == [DeploymentState.DEGRADED] * (
        len(statuses) - degraded_at - 1
    )
    assert statuses[-1].state == DeploymentState.READY


async def test_a_version_that_could_not_be_cached_loads_once_the_cache_can_be_written(
    tmp_path: Path, controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    v1 = registry.add(1)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory belongs")  # as unwritable as a full disk, for root
    controller.put(wanted((v1, 100)))
    await eventually(lambda: _served(repository, 1, DeploymentState.FAILED), what="FAILED")
    (failure,) = [c for c in repository.status("scaler", tenant="acme").conditions if c.type == "LoadFailed"]
    assert failure.reason == "CACHE_UNAVAILABLE"
    assert str(blocker) in failure.message

    blocker.unlink()
    await eventually(lambda: _served(repository, 1, DeploymentState.READY), what="READY with no load asked")
    assert await _answer(repository) == 1.0


async def test_a_version_whose_artifact_is_wrong_is_not_fetched_again_and_again(
    controller: DeploymentController,
    repository: ModelRepository,
    registry: Registry,
    statuses: list[DeploymentStatus],
) -> None:
    v1 = registry.add(1)
    (registry.directory / "v1.onnx").write_bytes(b"not the bytes its checksum names")
    controller.put(wanted((v1, 100)))
    await eventually(lambda: _served(repository, 1, DeploymentState.FAILED), what="FAILED")
    reported = len(statuses)
    # Retries of an unreadable store come every 0.01-0.05 s here; a checksum mismatch is not one.
    await asyncio.sleep(0.3)
    assert len(statuses) == reported
    (failure,) = [c for c in repository.status("scaler", tenant="acme").conditions if c.type == "LoadFailed"]
    assert failure.reason == "CHECKSUM_MISMATCH"


async def test_a_deployment_that_cannot_be_resolved_yet_does_not_hold_the_first_sync_back(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    stuck = "models/m/versions/9"
    registry.versions[stuck] = Unavailable("the registry is unreachable")
    controller.begin_snapshot()
    controller.put(wanted((registry.add(2), 100)))
    controller.put(wanted((stuck, 100), name="stuck"))
    controller.end_snapshot()

    await asyncio.wait_for(controller.synced.wait(), 10)

    assert await _answer(repository) == 2.0, "the deployment that could be resolved serves"
    assert controller.wanted_here("acme", "stuck")
    with pytest.raises(ModelNotFound):
        repository.status("stuck", tenant="acme")
    registry.add(9)  # resolvable from now on
    await eventually(
        lambda: _served(repository, 1, DeploymentState.READY, "stuck"),
        what="the stuck deployment, once it resolves",
    )


class _Context:
    def time_remaining(self) -> float | None:
        return None


async def test_a_deployment_wanted_here_but_not_loaded_yet_is_unavailable_not_unknown(
    controller: DeploymentController, repository: ModelRepository, registry: Registry
) -> None:
    # UNAVAILABLE is what the gateway retries on another server, which may serve it already.
    stuck = "models/m/versions/9"
    registry.versions[stuck] = Unavailable("the registry is unreachable")
    controller.put(wanted((stuck, 100)))
    servicer = InferenceServicer(repository, controller, InferenceTelemetry(), version="test")
    request = pb.ModelInferRequest(model_name="scaler")

    with pytest.raises(ModelNotReady) as not_ready:
        await servicer._infer(request, _Context(), "acme")
    with pytest.raises(ModelNotFound):
        await servicer._infer(request, _Context(), "globex")
    await controller.unload("acme", "scaler")
    with pytest.raises(ModelNotFound):
        await servicer._infer(request, _Context(), "acme")

    assert not_ready.value.reason == "MODEL_NOT_READY"
    assert not_ready.value.retry_after_seconds is not None
