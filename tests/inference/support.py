"""Small ONNX models built in code, and helpers shared by the inference tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from services.inference.sessions import ExecutionOptions, OrtSession, create_session, cuda_available
from services.inference.tensors import DATATYPES, encode_raw
from services.inference.validation import InputTensor

CPU = ExecutionOptions(device="cpu", intra_op_threads=1, inter_op_threads=1)

# Where a deployment that names no device lands on this machine, and its providers in ONNX Runtime's order.
AUTO_DEVICE, AUTO_PROVIDERS = (
    ("cuda:0", ("CUDAExecutionProvider", "CPUExecutionProvider"))
    if cuda_available()
    else ("cpu", ("CPUExecutionProvider",))
)

WEIGHTS = np.array([[1.0, -1.0], [0.5, 2.0], [-3.0, 0.25], [2.0, 1.0]], dtype=np.float32)
BIAS = np.array([0.5, -0.5], dtype=np.float32)


def serialize(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
) -> bytes:
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every ONNX Runtime the project supports
    onnx.checker.check_model(model)
    return model.SerializeToString()


def linear_model() -> bytes:
    """x [B,4] FP32 -> y = x @ W + b [B,2], z = relu(y) [B,2]."""
    return serialize(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
            helper.make_node("Relu", ["y"], ["z"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2]),
        ],
        [numpy_helper.from_array(WEIGHTS, "W"), numpy_helper.from_array(BIAS, "b")],
    )


def scale_model(factor: float) -> bytes:
    """x [B,4] FP32 -> y = x * factor; versions differ by their factor."""
    return serialize(
        [helper.make_node("Mul", ["x", "k"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(np.array(factor, dtype=np.float32), "k")],
    )


def identity_model(elem_type: int, dims: Sequence[int | str]) -> bytes:
    return serialize(
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", elem_type, list(dims))],
        [helper.make_tensor_value_info("y", elem_type, list(dims))],
    )


def two_input_model() -> bytes:
    """a [B,3] FP32, b [B,3] FP32 -> s = a + b; for batch-consistency checks."""
    return serialize(
        [helper.make_node("Add", ["a", "b"], ["s"])],
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 3]),
        ],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch", 3])],
    )


LOOKUP_TABLE = np.arange(30, dtype=np.float32).reshape(10, 3)


def lookup_model() -> bytes:
    """ids [B] INT64 -> y = LOOKUP_TABLE[ids] [B,3]; an id outside 0..9 makes the run fail."""
    return serialize(
        [helper.make_node("Gather", ["table", "ids"], ["y"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(LOOKUP_TABLE, "table")],
    )


def fragile_model() -> bytes:
    """x [B,2] FP32 -> y = x [B,2]; zeros run (the warm-up), a single row whose largest value is 1 fails
    in ONNX Runtime with FAIL (the model failing to run, not INVALID_ARGUMENT: rejecting the input).

    The values set an intermediate shape, ``[-1, int(max(x)) + 2]``, which a row's 2 elements fit
    only for ``int(max(x)) == 0``.
    """
    return serialize(
        [
            helper.make_node("ReduceMax", ["x"], ["top"], keepdims=1),
            helper.make_node("Cast", ["top"], ["top_int"], to=TensorProto.INT64),
            helper.make_node("Reshape", ["top_int", "one"], ["top1"]),
            helper.make_node("Add", ["top1", "two"], ["width"]),
            helper.make_node("Concat", ["minus_one", "width"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["reshaped"]),
            helper.make_node("Reshape", ["reshaped", "rows"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array([2], np.int64), "two"),
            numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
            numpy_helper.from_array(np.array([-1, 2], np.int64), "rows"),
        ],
    )


def open_session(model: bytes) -> OrtSession:
    return create_session(model, CPU)


def raw_input(name: str, array: np.ndarray, datatype: str = "FP32") -> InputTensor:
    """An input as the servicer builds it from ``raw_input_contents``."""
    return InputTensor(name, datatype, array.shape, raw=encode_raw(DATATYPES[datatype], array))


def mlp_model(seed: int = 0, features: int = 8, hidden: int = 16, classes: int = 3) -> bytes:
    """x [B,features] -> Gemm -> Relu -> Gemm -> y [B,classes]: a small version of the benchmark MLP."""
    rng = np.random.default_rng(seed)
    w0 = (rng.standard_normal((features, hidden)) / np.sqrt(features)).astype(np.float32)
    w1 = (rng.standard_normal((hidden, classes)) / np.sqrt(hidden)).astype(np.float32)
    return serialize(
        [
            helper.make_node("Gemm", ["x", "w0", "b0"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Gemm", ["r", "w1", "b1"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", classes])],
        [
            numpy_helper.from_array(w0, "w0"),
            numpy_helper.from_array(np.full(hidden, 0.1, np.float32), "b0"),
            numpy_helper.from_array(w1, "w1"),
            numpy_helper.from_array(np.zeros(classes, np.float32), "b1"),
        ],
    )
