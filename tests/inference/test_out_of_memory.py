"""A version that runs out of memory while it opens or warms up: told apart from an invalid model,
reported as ``OUT_OF_MEMORY`` and loaded once memory frees."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidProtobuf

import services.inference.sessions as sessions_module
from services.inference.artifacts import ArtifactCache
from services.inference.controller import DeploymentController
from services.inference.deployment import DeploymentSpec, DeploymentState, TrafficTarget
from services.inference.errors import ModelNotFound, RunOutOfMemory
from services.inference.repository import ModelRepository
from services.inference.sessions import ExecutionOptions, ModelSession, create_session, out_of_memory
from services.inference.stats import FailureReason, failure_reason
from services.inference.wanted import WantedDeployment
from services.runtime.errors import Code

from .calls import eventually, sha256
from .support import CPU, raw_input, serialize
from .test_controller import Registry

ARENA_BYTES = 1 << 20
_arena_registered = False


def _widening_model(columns: int) -> bytes:
    """``x[N,4]`` tiled to ``[N, 4 * columns]``: its warm-up needs ``16 * columns`` bytes for one row."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4 * columns])
    reps = helper.make_tensor("reps", TensorProto.INT64, [2], [1, columns])
    return serialize([helper.make_node("Tile", ["x", "reps"], ["y"])], [x], [y], [reps])


@pytest.fixture
def small_arena(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions opened meanwhile allocate from one shared 1 MiB CPU arena, as sessions on a GPU whose
    arena is limited do: past it, ONNX Runtime fails as it does on a full device."""
    global _arena_registered
    if not _arena_registered:
        # Process-wide, and only sessions that opt in use it: registered once, left in place.
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg(ARENA_BYTES, -1, -1, -1))
        _arena_registered = True

    class InSmallArena(ort.SessionOptions):
        def __init__(self) -> None:
            super().__init__()
            self.add_session_config_entry("session.use_env_allocators", "1")

    monkeypatch.setattr(sessions_module.ort, "SessionOptions", InSmallArena)


def _target(tmp_path: Path, model: bytes) -> TrafficTarget:
    path = tmp_path / f"{sha256(model)}.onnx"
    path.write_bytes(model)
    return TrafficTarget("models/m/versions/1", path.as_uri(), sha256(model), 100)


def test_onnx_runtime_failing_to_allocate_is_out_of_memory_and_a_bad_model_is_not(small_arena: None) -> None:
    session = create_session(_widening_model(ARENA_BYTES // 4), CPU)
    with pytest.raises(Fail, match="Available memory of") as allocation:
        session.run({"x": np.ones((1, 4), np.float32)})
    assert out_of_memory(allocation.value)
    with pytest.raises(InvalidProtobuf) as refused:
        create_session(b"not a model", CPU)
    assert not out_of_memory(refused.value)
    assert out_of_memory(MemoryError())
    assert out_of_memory(RuntimeError("CUDA failure 2: out of memory ; GPU=0 ; expr=cudaMalloc(&p, size);"))


async def test_a_version_whose_warm_up_runs_out_of_memory_fails_as_out_of_memory(
    tmp_path: Path, small_arena: None
) -> None:
    repository = ModelRepository(ArtifactCache(tmp_path / "cache"))
    try:
        spec = DeploymentSpec(
            "deployments/wide", (_target(tmp_path, _widening_model(ARENA_BYTES // 4)),), tenant="acme"
        )
        status = await repository.apply(spec)
        assert status.state == DeploymentState.FAILED
        (failed,) = [c for c in status.conditions if c.type == "LoadFailed"]
        assert failed.reason == "OUT_OF_MEMORY"
        assert "out of memory with 1 instance(s)" in failed.message

        fits = DeploymentSpec("deployments/wide", (_target(tmp_path, _widening_model(16)),), tenant="acme")
        assert (await repository.apply(fits)).state == DeploymentState.READY
        result = await repository.infer(
            "wide", "", [raw_input("x", np.ones((1, 4), np.float32))], tenant="acme"
        )
        assert result.outputs[0].data.shape == (1, 64)
    finally:
        await repository.close()


async def _state(repository: ModelRepository, name: str) -> DeploymentState | None:
    try:
        return repository.status(name, tenant="acme").state
    except ModelNotFound:
        return None


@pytest.mark.parametrize("retry_seconds", [0.01, 60.0], ids=["retries-soon", "next-retry-in-a-minute"])
async def test_a_version_out_of_memory_loads_once_another_deployment_is_deleted(
    tmp_path: Path, retry_seconds: float
) -> None:
    (tmp_path / "store").mkdir()
    registry = Registry(tmp_path / "store")
    first, second = registry.add(1), registry.add(2)
    room = threading.Event()

    def open_session(artifact: Path, options: ExecutionOptions) -> ModelSession:
        # The device holds one version: the second opens only once the first has gone.
        if artifact.stem == registry.versions[second].sha256 and not room.is_set():  # type: ignore[union-attr]
            raise RuntimeError("CUDA failure 2: out of memory ; GPU=0")
        return create_session(artifact, CPU)

    repository = ModelRepository(ArtifactCache(tmp_path / "cache"), session_factory=open_session)
    # With a minute to its next retry, only the room the deletion leaves can load it in time.
    controller = DeploymentController(
        repository, registry, retry_min_seconds=retry_seconds, retry_max_seconds=retry_seconds
    )
    try:
        controller.put(WantedDeployment("deployments/first", "acme", 1, ((first, 100),)))
        await eventually(lambda: _is(repository, "first", DeploymentState.READY), what="first")
        controller.put(WantedDeployment("deployments/second", "acme", 1, ((second, 100),)))
        await eventually(lambda: _is(repository, "second", DeploymentState.FAILED), what="out of memory")
        reasons = {
            c.reason for c in repository.status("second", tenant="acme").conditions if c.type == "LoadFailed"
        }
        assert reasons == {"OUT_OF_MEMORY"}

        room.set()
        controller.delete("acme", "first")
        await eventually(lambda: _is(repository, "second", DeploymentState.READY), what="room")
        result = await repository.infer(
            "second", "", [raw_input("x", np.ones((1, 4), np.float32))], tenant="acme"
        )
        assert float(result.outputs[0].data[0, 0]) == 2.0
    finally:
        await controller.close()
        await repository.close()


async def _is(repository: ModelRepository, name: str, state: DeploymentState) -> bool:
    return await _state(repository, name) == state


async def test_a_request_too_large_for_the_memory_is_resource_exhausted_and_the_version_serves_on(
    tmp_path: Path, small_arena: None
) -> None:
    # A row's output takes a quarter of the arena: four rows can never fit.
    model = _widening_model(ARENA_BYTES // 64)
    spec = DeploymentSpec("deployments/wide", (_target(tmp_path, model),), tenant="acme")
    repository = ModelRepository(ArtifactCache(tmp_path / "cache"))
    try:
        assert (await repository.apply(spec)).state == DeploymentState.READY

        with pytest.raises(RunOutOfMemory) as refused:
            await repository.infer("wide", "", [raw_input("x", np.ones((4, 4), np.float32))], tenant="acme")
        assert refused.value.code == Code.RESOURCE_EXHAUSTED
        assert refused.value.reason == "OUT_OF_MEMORY"
        assert refused.value.retry_after_seconds
        assert failure_reason(refused.value) == FailureReason.BACKEND  # as Triton counts a failed run

        row = np.full((1, 4), 3.0, np.float32)
        result = await repository.infer("wide", "", [raw_input("x", row)], tenant="acme")
        np.testing.assert_array_equal(result.outputs[0].data, np.tile(row, (1, ARENA_BYTES // 64)))
    finally:
        await repository.close()
