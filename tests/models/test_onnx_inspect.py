"""Reading an ONNX artifact's opset and signature, and refusing what is not ONNX."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from services.models.domain import TensorSignature
from services.models.enums import TensorType
from services.models.onnx_inspect import inspect_onnx
from services.runtime.errors import Code, InvalidArgument

from .onnx_models import (
    OPSET,
    external_data_model,
    identity_model,
    image_model,
    non_utf8_name_model,
    tiny_model,
)


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    return path


def test_reads_opset_and_signature_with_dynamic_dims(tmp_path: Path) -> None:
    info = inspect_onnx(_write(tmp_path, tiny_model(weights_as_input=True)))
    assert info.opset == OPSET
    assert info.inputs == (TensorSignature("features", TensorType.FP32, (-1, 4)),)
    assert info.outputs == (TensorSignature("scores", TensorType.FP32, (-1, 2)),)


def test_unknown_dims_are_dynamic_and_types_are_mapped(tmp_path: Path) -> None:
    info = inspect_onnx(_write(tmp_path, image_model()))
    assert info.inputs == (TensorSignature("image", TensorType.UINT8, (-1, 3, 224, 224)),)


def test_the_default_domain_opset_is_reported(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1])],
    )
    opsets = [helper.make_opsetid("ai.onnx.ml", 3), helper.make_opsetid("", 13)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    assert inspect_onnx(_write(tmp_path, model.SerializeToString())).opset == 13


@pytest.mark.parametrize("data", [b"", b"not onnx at all" * 10, tiny_model()[:-20]])
def test_refuses_files_that_are_not_onnx(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InvalidArgument) as raised:
        inspect_onnx(_write(tmp_path, data))
    assert raised.value.reason == "ARTIFACT_NOT_ONNX"


def test_refuses_a_model_the_checker_rejects(tmp_path: Path) -> None:
    model = onnx.load_from_string(tiny_model())
    model.graph.node[0].op_type = "NoSuchOperator"
    with pytest.raises(InvalidArgument):
        inspect_onnx(_write(tmp_path, model.SerializeToString()))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (non_utf8_name_model(), "a graph input or output name is not valid UTF-8"),
        (identity_model("x\x00"), "the graph input or output name 'x\\x00' contains control characters"),
        (identity_model("x\ny"), "the graph input or output name 'x\\ny' contains control characters"),
    ],
)
def test_refuses_tensor_names_that_are_not_printable_text(tmp_path: Path, data: bytes, why: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        inspect_onnx(_write(tmp_path, data))
    assert raised.value.code == Code.INVALID_ARGUMENT
    assert raised.value.reason == "ARTIFACT_NOT_ONNX"
    assert raised.value.message == f"the artifact is not a valid ONNX model: {why}"


@pytest.mark.parametrize("location", ["weights.bin", "../../../../etc/passwd", "/etc/passwd"])
def test_refuses_external_data_without_naming_the_servers_directory(tmp_path: Path, location: str) -> None:
    # A file of that name beside the staged artifact (another upload's) must not make it acceptable.
    (tmp_path / "weights.bin").write_bytes(b"\0" * 32)
    with pytest.raises(InvalidArgument) as raised:
        inspect_onnx(_write(tmp_path, external_data_model(location)))
    assert raised.value.reason == "ARTIFACT_NOT_ONNX"
    assert raised.value.message == (
        "the artifact is not a valid ONNX model: tensor 'weights' keeps its data in an external file; "
        "save the model with its data in the one file"
    )
