"""`aiplat infer`: one Open Inference Protocol call with tensors from .npy files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from inference import grpc_service_pb2, grpc_service_pb2_grpc
from services.cli.client import CommandError, connect
from services.cli.settings import CliSettings

_DATATYPES = {
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64",
    np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
}
_DTYPES = {name: dtype for dtype, name in _DATATYPES.items()}


def _input(spec: str) -> tuple[grpc_service_pb2.ModelInferRequest.InferInputTensor, bytes]:
    name, _, source = spec.partition("=@")
    if not source:
        raise CommandError(f"--input {spec!r}: expected NAME=@FILE.npy")
    array = np.load(Path(source), allow_pickle=False)
    datatype = _DATATYPES.get(array.dtype)
    if datatype is None:
        raise CommandError(f"--input {name}: arrays of {array.dtype} are not supported here")
    tensor = grpc_service_pb2.ModelInferRequest.InferInputTensor(
        name=name, datatype=datatype, shape=list(array.shape)
    )
    return tensor, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def _infer(args: argparse.Namespace) -> None:
    inputs = [_input(spec) for spec in args.input]
    request = grpc_service_pb2.ModelInferRequest(
        model_name=args.deployment,
        model_version=args.version,
        inputs=[tensor for tensor, _ in inputs],
        raw_input_contents=[raw for _, raw in inputs],
    )
    with connect(CliSettings()) as (channel, metadata):
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(request, metadata=metadata)
    outputs = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        dtype = _DTYPES.get(tensor.datatype)
        if dtype is None:
            outputs[tensor.name] = {
                "datatype": tensor.datatype,
                "shape": list(tensor.shape),
                "bytes": len(raw),
            }
            continue
        values = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(tuple(tensor.shape))
        outputs[tensor.name] = {
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
            "data": values.tolist(),
        }
    print(
        json.dumps(
            {"model_name": response.model_name, "model_version": response.model_version, "outputs": outputs}
        )
    )


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    infer = commands.add_parser(
        "infer", parents=[common], help="call a deployment with tensors from .npy files"
    )
    infer.add_argument("deployment")
    infer.add_argument("--input", action="append", required=True, metavar="NAME=@FILE.npy")
    infer.add_argument("--version", default="", help="pin a version instead of the traffic split")
    infer.set_defaults(handler=_infer)
