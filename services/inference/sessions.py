"""ONNX Runtime sessions on the device a deployment asks for.

CUDA is used when ONNX Runtime was built with its CUDA execution provider and
CuPy finds a device; CuPy is imported lazily because CPU installs lack it.
Everything else runs on the CPU provider, and the device a session actually
got (ONNX Runtime silently falls back when CUDA fails to initialise) is what
:attr:`OrtSession.device` reports.

On CUDA, inputs that preprocessing produced on the device are bound with
their CuPy pointers through I/O binding, so they never travel back to the
host; only the outputs are copied to host memory, where the response needs
them.  ONNX Runtime cannot bind string tensors, so graphs with BYTES inputs or
outputs take host arrays through ``run()`` (which copies to the device) and
preprocess with NumPy.

A model file is read once and its session built from those bytes, never by
ONNX Runtime from the path: for a :class:`VerifiedModel` (an artifact from
the cache) they are the very bytes whose SHA-256 was checked, so a file that
changes between the check and the load is never what runs.  Models keeping
tensors in external files could not load so; the platform refuses them at
upload.  ONNX Runtime would keep the bytes for the session's lifetime (to
rebuild the session on another provider after a failed run); that fallback is
turned off and the bytes are released once the session is built.

BF16 tensors travel as ``uint16`` bit patterns (see :mod:`.tensors`): they
are wrapped as OrtValues of ONNX type BFLOAT16 on the way in and read back
as bits on the way out, since NumPy has no bfloat16.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort
from onnx import TensorProto
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument as OrtInvalidArgument

from services.inference.signature import DYNAMIC, Signature, TensorSpec
from services.inference.tensors import CodecError, datatype_for_ort

__all__ = [
    "DEFAULT_GPU_MEMORY_FRACTION",
    "ExecutionOptions",
    "ModelSession",
    "OrtSession",
    "RejectedInputError",
    "VerifiedModel",
    "create_session",
    "cuda_available",
    "cuda_device_count",
    "read_signature",
]

_log = logging.getLogger(__name__)

DEFAULT_GPU_MEMORY_FRACTION = 0.2
"""Share of device memory one instance's CUDA arena may take when the deployment does not say."""

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


class RejectedInputError(ValueError):
    """ONNX Runtime answered INVALID_ARGUMENT while running: the feeds' values, not the session, are
    at fault."""


@dataclass(frozen=True)
class ExecutionOptions:
    """Where and how a version's sessions run (``ExecutionConfig`` in the registry)."""

    device: Literal["auto", "cpu", "gpu"] = "auto"
    """``auto`` and ``gpu`` use CUDA where present (``gpu`` warns when it is not), ``cpu`` never does."""
    intra_op_threads: int = 0
    """Threads one operator may use; 0 lets ONNX Runtime choose."""
    inter_op_threads: int = 0
    """Threads running independent operators; 0 lets ONNX Runtime choose."""
    gpu_memory_fraction: float = 0.0
    """Share (0-1] of device memory each session's CUDA arena may take; 0 means the default."""
    device_id: int = 0
    """CUDA device ordinal."""
    allow_spinning: bool = False
    """Let idle ONNX Runtime threads spin; off by default as spinning steals the event loop's core."""
    allow_tf32: bool = False
    """Let CUDA run float32 products in TensorFloat-32; off, results match the CPU's to float32 rounding."""
    inline_run_us: int = 0
    """Run a lone request on the event loop when runs take at most this long (µs); 0: always a thread."""


@runtime_checkable
class VerifiedModel(Protocol):
    """A model file that hands out its bytes checked against a known checksum
    (:class:`.artifacts.CachedArtifact`)."""

    def read_verified(self) -> bytes:
        """The model's serialized bytes, verified; raises when they cannot be."""
        ...


class ModelSession(Protocol):
    """What the batcher needs of a session; :class:`OrtSession` is the real one."""

    @property
    def signature(self) -> Signature: ...
    @property
    def device(self) -> str:
        """``cpu`` or ``cuda:<n>``."""
        ...

    @property
    def providers(self) -> tuple[str, ...]: ...
    @property
    def xp(self) -> ModuleType:
        """Array module of the device: ``numpy`` or ``cupy``."""
        ...

    def activate(self) -> None:
        """Make the session's device current in the calling thread."""
        ...

    def to_device(self, array: np.ndarray) -> Any:
        """``array`` on the session's device (the same array on CPU)."""
        ...

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run once; feeds are NumPy arrays or arrays of :attr:`xp`; outputs are host arrays."""
        ...


@functools.cache
def cuda_device_count() -> int:
    """CUDA devices CuPy sees; 0 without CuPy or without a driver."""
    try:
        cupy = importlib.import_module("cupy")
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # ImportError, or CUDARuntimeError on machines without a driver.
        return 0


def cuda_available(device_id: int = 0) -> bool:
    """Whether a session asking for the GPU gets CUDA device ``device_id``: ONNX Runtime has the CUDA
    provider and CuPy sees the device."""
    return _CUDA in ort.get_available_providers() and cuda_device_count() > device_id


def read_signature(session: ort.InferenceSession) -> Signature:
    """The session's inputs and outputs with protocol datatypes; symbolic dims become -1, their names
    kept so that inputs sharing one can be checked to agree."""

    def spec(arg: Any) -> TensorSpec:
        try:
            dt = datatype_for_ort(arg.type)
        except CodecError as error:
            raise ValueError(f"tensor {arg.name!r}: {error}") from None
        dims = tuple(d if isinstance(d, int) and d >= 0 else DYNAMIC for d in arg.shape)
        names = tuple(d if isinstance(d, str) else "" for d in arg.shape)
        return TensorSpec(arg.name, dt.name, dims, names if any(names) else ())

    return Signature(
        tuple(spec(a) for a in session.get_inputs()), tuple(spec(a) for a in session.get_outputs())
    )


def create_session(model: str | Path | bytes, options: ExecutionOptions = ExecutionOptions()) -> OrtSession:
    """Open ``model`` (a path or the serialized bytes) on the device ``options`` asks for.

    A path is read once, verified when it is a :class:`VerifiedModel`, and the session built from
    those bytes.
    """
    use_cuda = _cuda_usable(options)
    settings = ort.SessionOptions()
    settings.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    settings.intra_op_num_threads = options.intra_op_threads
    settings.inter_op_num_threads = options.inter_op_threads
    spinning = "1" if options.allow_spinning else "0"
    settings.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    settings.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    providers: list[Any] = [_CPU]
    if use_cuda:
        _load_cuda_libraries()
        providers.insert(0, (_CUDA, _cuda_provider_options(options)))
    session = _open(model, settings, providers)
    actual = tuple(session.get_providers())
    on_cuda = _CUDA in actual
    device = f"cuda:{options.device_id}" if on_cuda else "cpu"
    if use_cuda and not on_cuda:
        _log.warning("CUDA execution provider failed to initialise; session runs on the CPU")
    _log.info("model session opened on %s", device, extra={"device": device, "providers": list(actual)})
    xp = importlib.import_module("cupy") if on_cuda else np
    return OrtSession(session, device=device, device_id=options.device_id, xp=xp)


def _open(
    model: str | Path | bytes, settings: ort.SessionOptions, providers: list[Any]
) -> ort.InferenceSession:
    if isinstance(model, bytes):
        data = model
    elif isinstance(model, VerifiedModel):
        data = model.read_verified()
    else:
        data = Path(model).read_bytes()
    # A provider failing to initialise still falls back to the CPU here, while the bytes are at hand.
    session = ort.InferenceSession(data, sess_options=settings, providers=providers)
    # A run failing in a provider would rebuild the session on the CPU from the bytes the session
    # keeps for it: the whole model, held as long as the session lives.  Such a run fails instead
    # (on CUDA the session's I/O binding and reported device would be stale after a rebuild anyway).
    session.disable_fallback()
    session._model_bytes = None
    return session


def _cuda_usable(options: ExecutionOptions) -> bool:
    if options.device == "cpu":
        return False
    usable = cuda_available(options.device_id)
    if not usable and options.device == "gpu":
        _log.warning("GPU requested but no CUDA device is usable; running on the CPU")
    return usable


@functools.cache
def _load_cuda_libraries() -> None:
    """Load the CUDA and cuDNN libraries that pip installs beside ONNX Runtime.

    ONNX Runtime's CUDA provider finds them only on the loader's path, which pip's `nvidia-*`
    packages (the `cuda` and `cudnn` extras of onnxruntime-gpu) are not on; where they are absent
    this falls back to the loader's path, so a system-wide CUDA keeps working.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:  # builds before 1.21 rely on the loader's path alone
        return
    printed = io.StringIO()
    try:
        # It reports what it could not load on stdout, which belongs to the service's logs instead.
        with contextlib.redirect_stdout(printed):
            preload(cuda=True, cudnn=True, msvc=False)
    except (OSError, RuntimeError) as error:
        _log.warning("could not preload the CUDA libraries: %s", error)
    if report := printed.getvalue().strip():
        _log.warning("preloading the CUDA libraries: %s", report)


def _cuda_provider_options(options: ExecutionOptions) -> dict[str, str]:
    cupy = importlib.import_module("cupy")
    total = int(cupy.cuda.runtime.getDeviceProperties(options.device_id)["totalGlobalMem"])
    fraction = options.gpu_memory_fraction or DEFAULT_GPU_MEMORY_FRACTION
    return {
        "device_id": str(options.device_id),
        "gpu_mem_limit": str(int(total * fraction)),
        # Grow by what is asked, not by doubling, so the limit is not overshot in one step.
        "arena_extend_strategy": "kSameAsRequested",
        # ONNX Runtime turns TF32 on by default, which changes float32 results in the fourth digit.
        "use_tf32": "1" if options.allow_tf32 else "0",
    }


class OrtSession:
    """One ONNX Runtime session; used by one worker thread at a time."""

    def __init__(
        self,
        session: ort.InferenceSession,
        *,
        device: str,
        device_id: int = 0,
        xp: ModuleType = np,
        io_binding: bool | None = None,
    ) -> None:
        """Wrap ``session``; ``io_binding`` (default: on for CUDA) binds ``xp`` arrays by pointer."""
        self._session = session
        self._device_id = device_id
        self._signature = read_signature(session)
        self._device = device
        self._providers = tuple(session.get_providers())
        self._outputs = [spec.name for spec in self._signature.outputs]
        self._bf16_in = frozenset(s.name for s in self._signature.inputs if s.datatype == "BF16")
        self._bf16_out = frozenset(s.name for s in self._signature.outputs if s.datatype == "BF16")
        self._cuda = device.startswith("cuda")
        tensors = self._signature.inputs + self._signature.outputs
        # ONNX Runtime cannot bind string tensors; such graphs take host arrays
        # through run(), which copies to the device itself.
        strings = any(spec.datatype == "BYTES" for spec in tensors)
        self._bound = (self._cuda if io_binding is None else io_binding) and not strings
        self._xp = xp if self._bound else np
        self._bind_device = "cuda" if self._cuda else "cpu"
        # One binding reused across runs: a session is driven by one thread at a time.
        self._binding: Any = session.io_binding() if self._bound else None

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def device(self) -> str:
        return self._device

    @property
    def providers(self) -> tuple[str, ...]:
        return self._providers

    @property
    def xp(self) -> ModuleType:
        return self._xp

    def activate(self) -> None:
        if self._cuda and self._bound:
            self._xp.cuda.runtime.setDevice(self._device_id)

    def to_device(self, array: np.ndarray) -> Any:
        return self._xp.asarray(array) if self._bound else array

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        try:
            if self._bound:
                return self._run_bound(feeds)
            if not (self._bf16_in or self._bf16_out):
                return dict(zip(self._outputs, self._session.run(None, feeds), strict=True))
            values = {name: self._ort_value(name, array) for name, array in feeds.items()}
            results = self._session.run_with_ort_values(None, values)
        except OrtInvalidArgument as error:
            raise RejectedInputError(_ort_message(error)) from None
        return {name: self._host(name, value) for name, value in zip(self._outputs, results, strict=True)}

    def _ort_value(self, name: str, array: np.ndarray) -> Any:
        if name in self._bf16_in:
            return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(array, TensorProto.BFLOAT16)
        return ort.OrtValue.ortvalue_from_numpy(array)

    def _host(self, name: str, value: Any) -> np.ndarray:
        if name not in self._bf16_out:
            return np.asarray(value.numpy())
        # NumPy has no bfloat16: copy the host buffer out as its uint16 bits.
        data = ctypes.string_at(value.data_ptr(), value.tensor_size_in_bytes())
        return np.frombuffer(data, dtype=np.uint16).reshape(value.shape())

    def _run_bound(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        binding = self._binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        cupy = self._xp
        if not all(isinstance(array, np.ndarray) for array in feeds.values()):
            # Preprocessing kernels were queued on CuPy's stream; ONNX Runtime reads
            # the buffers from its own stream, so they must be finished first.
            cupy.cuda.get_current_stream().synchronize()
        # Bound pointers are raw: the arrays must outlive the run.
        keep_alive: list[Any] = []
        for name, array in feeds.items():
            if isinstance(array, np.ndarray):
                if name in self._bf16_in:
                    value = self._ort_value(name, array)
                    keep_alive.append(value)
                    binding.bind_ortvalue_input(name, value)
                else:
                    binding.bind_cpu_input(name, array)
                continue
            device_array = cupy.ascontiguousarray(array)
            keep_alive.append(device_array)
            element = TensorProto.BFLOAT16 if name in self._bf16_in else device_array.dtype.type
            binding.bind_input(
                name,
                self._bind_device,
                self._device_id,
                element,
                tuple(device_array.shape),
                device_array.data.ptr,
            )
        for name in self._outputs:
            # Outputs land in host memory directly: the response is built there.
            binding.bind_output(name, "cpu")
        self._session.run_with_iobinding(binding)
        del keep_alive
        return {
            name: self._host(name, value)
            for name, value in zip(self._outputs, binding.get_outputs(), strict=True)
        }


def _ort_message(error: Exception) -> str:
    """What ONNX Runtime says went wrong, without its status-code preamble."""
    text = str(error)
    _, marker, detail = text.partition("Status Message: ")
    if marker:
        return detail.strip()
    return text.rsplit(" : ", 1)[-1].strip()


_OUT_OF_MEMORY = re.compile(
    r"out of memory|failed to allocate memory|available memory of \d+ is smaller than requested"
    r"|bad_alloc|_ALLOC_FAILED",
    re.IGNORECASE,
)
"""How ONNX Runtime reports an allocation that failed: CUDA's and cuBLAS/cuDNN's errors, its arenas'
(over the arena's limit, or the device full) and the C++ runtime's."""


def out_of_memory(error: BaseException) -> bool:
    """Whether opening or running a session failed for want of host or device memory, which memory
    freed elsewhere may cure, unlike an invalid model."""
    return isinstance(error, MemoryError) or _OUT_OF_MEMORY.search(str(error)) is not None
