"""Checking an artifact as ONNX and reading its signature.

Runs on a file path (never on bytes in memory) so that the checker handles
models of any size; callers run it in a worker thread, it is CPU-bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from services.models import errors
from services.models.domain import TensorSignature
from services.models.enums import TensorType
from services.runtime.errors import InvalidArgument

_TYPES: dict[int, TensorType] = {
    onnx.TensorProto.BOOL: TensorType.BOOL,
    onnx.TensorProto.UINT8: TensorType.UINT8,
    onnx.TensorProto.UINT16: TensorType.UINT16,
    onnx.TensorProto.UINT32: TensorType.UINT32,
    onnx.TensorProto.UINT64: TensorType.UINT64,
    onnx.TensorProto.INT8: TensorType.INT8,
    onnx.TensorProto.INT16: TensorType.INT16,
    onnx.TensorProto.INT32: TensorType.INT32,
    onnx.TensorProto.INT64: TensorType.INT64,
    onnx.TensorProto.FLOAT16: TensorType.FP16,
    onnx.TensorProto.FLOAT: TensorType.FP32,
    onnx.TensorProto.DOUBLE: TensorType.FP64,
    onnx.TensorProto.STRING: TensorType.BYTES,
    onnx.TensorProto.BFLOAT16: TensorType.BF16,
}
# Both spellings of the default operator set domain.
_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class OnnxInfo:
    """What the registry records about an ONNX artifact."""

    opset: int
    inputs: tuple[TensorSignature, ...]
    outputs: tuple[TensorSignature, ...]


def _signature(value: onnx.ValueInfoProto) -> TensorSignature:
    if not value.type.HasField("tensor_type"):
        # Sequences and maps have no tensor signature in the inference protocol.
        return TensorSignature(value.name, TensorType.UNSPECIFIED, ())
    tensor = value.type.tensor_type
    dims: tuple[int, ...] = ()
    if tensor.HasField("shape"):
        # A symbolic (`batch`) or unknown dimension is dynamic: -1, as the inference protocol spells it.
        dims = tuple(dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor.shape.dim)
    return TensorSignature(value.name, _TYPES.get(tensor.elem_type, TensorType.UNSPECIFIED), dims)


def inspect_onnx(path: Path) -> OnnxInfo:
    """Check ``path`` with ``onnx.checker`` and read its opset and signature.

    INVALID_ARGUMENT (reason ARTIFACT_NOT_ONNX) when the file is not a valid
    ONNX model.
    """
    try:
        onnx.checker.check_model(str(path))
        model = onnx.load(str(path), load_external_data=False)
    except (onnx.checker.ValidationError, DecodeError, ValueError) as error:
        raise _not_onnx(str(error)) from error
    opsets = [entry.version for entry in model.opset_import if entry.domain in _DEFAULT_DOMAINS]
    if not opsets:
        raise _not_onnx("the model imports no default-domain opset")
    graph = model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    # Older exporters list weights as graph inputs too; clients never feed them.
    inputs = tuple(_signature(value) for value in graph.input if value.name not in initializers)
    outputs = tuple(_signature(value) for value in graph.output)
    return OnnxInfo(opset=max(opsets), inputs=inputs, outputs=outputs)


def _not_onnx(detail: str) -> InvalidArgument:
    first_line = detail.strip().splitlines()[0] if detail.strip() else "unknown problem"
    return errors.artifact_error(
        errors.ARTIFACT_NOT_ONNX, f"the artifact is not a valid ONNX model: {first_line}"
    )
