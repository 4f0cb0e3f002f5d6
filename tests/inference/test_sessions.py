"""ONNX Runtime sessions: signature, device choice and runs on CPU; the CUDA path where a GPU exists."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from services.inference import sessions
from services.inference.sessions import (
    DEFAULT_GPU_MEMORY_FRACTION,
    ExecutionOptions,
    OrtSession,
    RejectedInputError,
    create_session,
    cuda_device_count,
)
from services.inference.signature import Signature, TensorSpec

from .support import (
    BIAS,
    CPU,
    LOOKUP_TABLE,
    WEIGHTS,
    identity_model,
    linear_model,
    lookup_model,
    open_session,
    serialize,
)


def test_signature_reads_datatypes_and_marks_symbolic_dims_dynamic(linear_session: OrtSession) -> None:
    batch = ("batch", "")
    assert linear_session.signature == Signature(
        (TensorSpec("x", "FP32", (-1, 4), batch),),
        (TensorSpec("y", "FP32", (-1, 2), batch), TensorSpec("z", "FP32", (-1, 2), batch)),
    )
    assert linear_session.signature.batched
    fixed = create_session(identity_model(TensorProto.INT64, [3]), CPU)
    assert fixed.signature.inputs == (TensorSpec("x", "INT64", (3,)),)
    assert not fixed.signature.batched


def test_cpu_session_reports_its_device_and_matches_onnx_runtime(linear_session: OrtSession) -> None:
    assert linear_session.device == "cpu"
    assert linear_session.providers == ("CPUExecutionProvider",)
    assert linear_session.xp is np
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    outputs = linear_session.run({"x": x})
    np.testing.assert_allclose(outputs["y"], x @ WEIGHTS + BIAS, rtol=1e-6)
    np.testing.assert_array_equal(outputs["z"], np.maximum(outputs["y"], 0))
    direct = ort.InferenceSession(linear_model(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(outputs["y"], direct[0])


def test_values_the_model_refuses_are_reported_as_rejected_input() -> None:
    session = open_session(lookup_model())
    np.testing.assert_array_equal(session.run({"ids": np.array([2, 0])})["y"], LOOKUP_TABLE[[2, 0]])
    with pytest.raises(RejectedInputError, match="idx=42"):
        session.run({"ids": np.array([1, 42])})


def test_session_opens_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(linear_model())
    assert create_session(path, CPU).signature.inputs[0].name == "x"


Opened = list[tuple[ort.SessionOptions, list[Any]]]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Opened:
    """The options and providers of every session opened, each opened for real on the CPU."""
    calls: Opened = []
    real = ort.InferenceSession

    def recording(
        source: object, sess_options: ort.SessionOptions, providers: list[Any], **kwargs: object
    ) -> ort.InferenceSession:
        calls.append((sess_options, providers))
        return real(source, sess_options=sess_options, providers=["CPUExecutionProvider"], **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", recording)
    return calls


@pytest.mark.parametrize("spinning", [False, True])
def test_sessions_optimise_the_graph_use_the_threads_asked_and_spin_only_when_allowed(
    opened: Opened, spinning: bool
) -> None:
    create_session(
        linear_model(),
        ExecutionOptions(device="cpu", intra_op_threads=3, inter_op_threads=2, allow_spinning=spinning),
    )
    ((options, providers),) = opened
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 2)
    expected = "1" if spinning else "0"
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == expected
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == expected
    assert providers == ["CPUExecutionProvider"]


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, total_bytes: int) -> None:
    """A CUDA build of ONNX Runtime and one device of ``total_bytes``, as CuPy reports them."""
    runtime = SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda device: {"totalGlobalMem": total_bytes},
    )
    cupy = ModuleType("cupy")
    cupy.cuda = SimpleNamespace(runtime=runtime)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(sessions, "cuda_device_count", lambda: 1)  # the real one caches this machine's count
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )


@pytest.mark.parametrize(
    ("fraction", "share", "tf32"), [(0.25, 0.25, True), (None, DEFAULT_GPU_MEMORY_FRACTION, False)]
)
def test_the_cuda_arena_is_limited_to_the_configured_share_of_device_memory_and_tf32_is_opt_in(
    monkeypatch: pytest.MonkeyPatch, opened: Opened, fraction: float | None, share: float, tf32: bool
) -> None:
    total = 80 * 2**30
    _fake_gpu(monkeypatch, total)
    options = ExecutionOptions(device="gpu", device_id=0, gpu_memory_fraction=fraction, allow_tf32=tf32)
    session = create_session(linear_model(), options)
    ((_, providers),) = opened
    assert providers == [
        (
            "CUDAExecutionProvider",
            {
                "device_id": "0",
                "gpu_mem_limit": str(int(total * share)),
                "arena_extend_strategy": "kSameAsRequested",
                "use_tf32": "1" if tf32 else "0",
            },
        ),
        "CPUExecutionProvider",
    ]
    # The fake device cannot run anything: ONNX Runtime answered with the CPU, and the session says so.
    assert session.device == "cpu"


def test_cuda_libraries_installed_by_pip_are_preloaded_once_and_what_failed_is_logged(
    monkeypatch: pytest.MonkeyPatch, opened: Opened, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_gpu(monkeypatch, 8 * 2**30)
    calls: list[dict[str, bool]] = []

    def preload(**kwargs: bool) -> None:
        calls.append(kwargs)
        print("Failed to load libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(ort, "preload_dlls", preload, raising=False)
    sessions._load_cuda_libraries.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="services.inference.sessions"):
            for _ in range(2):
                create_session(linear_model(), ExecutionOptions(device="gpu"))
    finally:
        sessions._load_cuda_libraries.cache_clear()

    assert calls == [{"cuda": True, "cudnn": True, "msvc": False}]
    assert any("libcudnn.so.9" in record.getMessage() for record in caplog.records)


@pytest.mark.skipif(cuda_device_count() > 0, reason="checks the fallback of a machine without a GPU")
def test_gpu_request_without_a_gpu_falls_back_to_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="services.inference.sessions"):
        session = create_session(linear_model(), ExecutionOptions(device="gpu", intra_op_threads=1))
    assert session.device == "cpu"
    messages = [r.getMessage() for r in caplog.records]
    assert any("no CUDA device" in m for m in messages)
    assert any("opened on cpu" in m for m in messages)


def test_model_with_unsupported_tensor_types_is_refused() -> None:
    model = serialize(
        [helper.make_node("SequenceConstruct", ["x"], ["s"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])],
    )
    with pytest.raises(ValueError, match="'s'"):
        create_session(model, CPU)


class _DeviceArray:
    """Stands in for a ``cupy.ndarray``: memory ONNX Runtime reaches only through its pointer."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = np.ascontiguousarray(array)
        self.dtype = self._array.dtype
        self.shape = self._array.shape
        self.data = SimpleNamespace(ptr=self._array.ctypes.data)


def _pointer_module(syncs: list[int]) -> ModuleType:
    """The slice of CuPy's API the I/O-binding path uses, over host memory."""
    module = ModuleType("pointer_arrays")
    stream = SimpleNamespace(synchronize=lambda: syncs.append(1))
    module.cuda = SimpleNamespace(get_current_stream=lambda: stream)  # type: ignore[attr-defined]
    module.asarray = _DeviceArray  # type: ignore[attr-defined]
    module.ascontiguousarray = lambda array: array  # type: ignore[attr-defined]
    return module


def _bound_session(model: bytes, syncs: list[int]) -> OrtSession:
    inner = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return OrtSession(inner, device="cpu", xp=_pointer_module(syncs), io_binding=True)


def test_io_binding_feeds_pointers_and_returns_host_outputs() -> None:
    syncs: list[int] = []
    session = _bound_session(linear_model(), syncs)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    by_pointer = session.run({"x": session.to_device(x)})
    np.testing.assert_allclose(by_pointer["y"], x @ WEIGHTS + BIAS, rtol=1e-6)
    np.testing.assert_array_equal(
        session.run({"x": x})["z"], by_pointer["z"]
    )  # host arrays bind as CPU inputs
    assert syncs == [1], "the array module's stream is synchronised before a run that reads device arrays"


def test_io_binding_carries_bf16_bits_and_strings() -> None:
    bits = np.array([[0x3FC0, 0xBDC0]], dtype=np.uint16)  # 1.5, -0.09375
    bf16 = _bound_session(identity_model(TensorProto.BFLOAT16, ["batch", 2]), [])
    np.testing.assert_array_equal(bf16.run({"x": bf16.to_device(bits)})["y"], bits)
    np.testing.assert_array_equal(bf16.run({"x": bits})["y"], bits)
    syncs: list[int] = []
    text = _bound_session(identity_model(TensorProto.STRING, ["batch", 2]), syncs)
    assert text.xp is np, "string graphs cannot be bound and take host arrays"
    words = np.array([["a", "\u00e9"]], dtype=object)
    assert text.run({"x": text.to_device(words)})["y"].tolist() == [["a", "\u00e9"]]
    assert syncs == []


def _require_cuda() -> None:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this ONNX Runtime build has no CUDA execution provider (onnxruntime-gpu not installed)")
    if cuda_device_count() == 0:
        pytest.skip("CuPy is absent or finds no CUDA device")


@pytest.mark.gpu
def test_cuda_session_binds_device_arrays_and_returns_host_outputs() -> None:
    _require_cuda()
    cupy = importlib.import_module("cupy")
    session = create_session(linear_model(), ExecutionOptions(device="gpu", gpu_memory_fraction=0.05))
    assert session.device == "cuda:0"
    assert session.providers[0] == "CUDAExecutionProvider"
    assert session.xp is cupy
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    session.activate()
    on_device = session.to_device(x) * 1  # a kernel on CuPy's stream right before the run
    outputs = session.run({"x": on_device})
    assert isinstance(outputs["y"], np.ndarray)
    np.testing.assert_allclose(outputs["y"], x @ WEIGHTS + BIAS, rtol=1e-4)
    host_fed = session.run({"x": x})
    np.testing.assert_allclose(host_fed["y"], outputs["y"], rtol=1e-6)
