"""ONNX models built in code for the tests: tiny, deterministic, and valid unless said otherwise."""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def tiny_model(*, weights_as_input: bool = False, seed: int = 0) -> bytes:
    """``features`` [batch, 4] float -> MatMul -> ``scores`` [batch, 2] float.

    ``weights_as_input`` lists the weight initializer among the graph inputs too,
    as older exporters did; ``seed`` changes the weights (and so the checksum).
    """
    weights = np.random.default_rng(seed).standard_normal((4, 2)).astype(np.float32)
    inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])]
    if weights_as_input:
        inputs.append(helper.make_tensor_value_info("weights", TensorProto.FLOAT, [4, 2]))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "weights"], ["scores"])],
        "tiny",
        inputs,
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def unique_model() -> bytes:
    """A tiny model with weights no other test uses: artifacts are shared by checksum across tenants."""
    return tiny_model(seed=uuid.uuid4().int % 2**32)


def image_model() -> bytes:
    """``image`` [batch, 3, 224, 224] uint8 -> Cast -> ``pixels`` float, for preprocessing checks."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT)],
        "image",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [None, 3, 224, 224])],
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [None, 3, 224, 224])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def identity_model(name: str = "x") -> bytes:
    """``name`` [1] float -> Identity -> ``y`` [1] float: a graph whose input name the test picks."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["y"])],
        "identity",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString()


def non_utf8_name_model() -> bytes:
    """An identity model whose input name is not UTF-8 (patched in the bytes: the protobuf API refuses it)."""
    return identity_model("xQQ").replace(b"xQQ", b"x\xff\xfe")


def external_data_model(location: str) -> bytes:
    """A model whose weight lives in the external file ``location``, as large exports keep it."""
    model = onnx.load_from_string(tiny_model())
    weights = model.graph.initializer[0]
    weights.ClearField("raw_data")
    weights.ClearField("float_data")
    weights.data_location = TensorProto.EXTERNAL
    entry = weights.external_data.add()
    entry.key, entry.value = "location", location
    return model.SerializeToString()
