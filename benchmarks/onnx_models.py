"""The benchmark models, built in code with a dynamic batch dimension."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_OPSET = 17


@dataclass(frozen=True)
class BenchModel:
    """An ONNX model and the shape of one request's input."""

    name: str
    onnx_bytes: bytes
    input_name: str
    output_name: str
    features: int

    def sample(self, batch: int, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((batch, self.features), dtype=np.float32)


def _mlp(name: str, widths: Sequence[int], relu_after_last: bool, seed: int) -> BenchModel:
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    current = "input"
    layers = len(widths) - 1
    for index in range(layers):
        fan_in, fan_out = widths[index], widths[index + 1]
        weight = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        bias = (rng.standard_normal(fan_out) * 0.01).astype(np.float32)
        initializers += [
            numpy_helper.from_array(weight, f"w{index}"),
            numpy_helper.from_array(bias, f"b{index}"),
        ]
        gemm_out = f"gemm{index}" if (index < layers - 1 or relu_after_last) else "output"
        nodes.append(helper.make_node("Gemm", [current, f"w{index}", f"b{index}"], [gemm_out]))
        current = gemm_out
        if index < layers - 1 or relu_after_last:
            relu_out = f"relu{index}" if index < layers - 1 else "output"
            nodes.append(helper.make_node("Relu", [gemm_out], [relu_out]))
            current = relu_out
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", widths[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", widths[-1]])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return BenchModel(name, model.SerializeToString(), "input", "output", widths[0])


def tiny_mlp() -> BenchModel:
    """[B,64] -> Gemm 64x256 -> Relu -> Gemm 256x10."""
    return _mlp("tiny_mlp", [64, 256, 10], relu_after_last=False, seed=1)


def heavy_mlp() -> BenchModel:
    """[B,1024] -> 4 x (Gemm 1024x1024 + Relu)."""
    return _mlp("heavy_mlp", [1024, 1024, 1024, 1024, 1024], relu_after_last=True, seed=2)
