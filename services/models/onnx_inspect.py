"""Checking an artifact as ONNX and reading its signature.

Runs on a file path (never on bytes in memory) so that the checker handles
models of any size; callers run it in a worker thread, it is CPU-bound.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import uses_external_data

from services.models import errors
from services.models.domain import TensorSignature
from services.models.enums import TensorType
from services.models.validation import has_control_characters, shown
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


def _name(value: onnx.ValueInfoProto) -> str:
    # Protobuf hands back bytes for a name that is not UTF-8; the store and the inference protocol
    # need text, and PostgreSQL refuses NUL in text.
    name: str | bytes = value.name
    if not isinstance(name, str):
        raise _not_onnx("a graph input or output name is not valid UTF-8")
    if has_control_characters(name):
        raise _not_onnx(f"the graph input or output name {shown(name)} contains control characters")
    return name


def _signature(value: onnx.ValueInfoProto) -> TensorSignature:
    name = _name(value)
    if not value.type.HasField("tensor_type"):
        # Sequences and maps have no tensor signature in the inference protocol.
        return TensorSignature(name, TensorType.UNSPECIFIED, ())
    tensor = value.type.tensor_type
    dims: tuple[int, ...] = ()
    if tensor.HasField("shape"):
        # A symbolic (`batch`) or unknown dimension is dynamic: -1, as the inference protocol spells it.
        dims = tuple(dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor.shape.dim)
    return TensorSignature(name, _TYPES.get(tensor.elem_type, TensorType.UNSPECIFIED), dims)


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph holds: initializers and attribute values, in subgraphs too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def _refuse_external_data(model: onnx.ModelProto) -> None:
    # A stored artifact is one file: data beside it in the staging directory would not travel with it.
    for tensor in _tensors(model.graph):
        if uses_external_data(tensor):
            raise _not_onnx(
                f"tensor {shown(tensor.name)} keeps its data in an external file; "
                "save the model with its data in the one file"
            )


def inspect_onnx(path: Path) -> OnnxInfo:
    """Check ``path`` with ``onnx.checker`` and read its opset and signature.

    INVALID_ARGUMENT (reason ARTIFACT_NOT_ONNX) when the file is not a valid
    ONNX model, or one the service cannot store and serve.
    """
    try:
        model = onnx.load(str(path), load_external_data=False)
        _refuse_external_data(model)
        onnx.checker.check_model(str(path))
    except (onnx.checker.ValidationError, DecodeError, ValueError) as error:
        raise _not_onnx(_without_directory(str(error), path.parent)) from error
    opsets = [entry.version for entry in model.opset_import if entry.domain in _DEFAULT_DOMAINS]
    if not opsets:
        raise _not_onnx("the model imports no default-domain opset")
    graph = model.graph
    initializers = {tensor.name for tensor in graph.initializer}
    # Older exporters list weights as graph inputs too; clients never feed them.
    inputs = tuple(_signature(value) for value in graph.input if value.name not in initializers)
    outputs = tuple(_signature(value) for value in graph.output)
    return OnnxInfo(opset=max(opsets), inputs=inputs, outputs=outputs)


def _without_directory(detail: str, directory: Path) -> str:
    # The checker names files by their path on this server (the staging directory): not the client's business.
    return detail.replace(f"{directory}{os.sep}", "").replace(str(directory), "the artifact's directory")


def _not_onnx(detail: str) -> InvalidArgument:
    first_line = detail.strip().splitlines()[0] if detail.strip() else "unknown problem"
    return errors.artifact_error(
        errors.ARTIFACT_NOT_ONNX, f"the artifact is not a valid ONNX model: {first_line}"
    )
