"""`aiplat infer`: one Open Inference Protocol call with tensors from .npy files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from inference import grpc_service_pb2, grpc_service_pb2_grpc
from services.cli.client import CommandError, connect
from services.cli.output import as_rows
from services.cli.settings import CliSettings
from services.inference.tensors import DATATYPES, DataType, bf16_to_float32, decode_raw, encode_raw

_VALUES_SHOWN = 8

# .npy files carry NumPy dtypes; BF16 has none (its bits look like UINT16), so it is never inferred.
_BY_DTYPE = {dt.dtype: dt for dt in DATATYPES.values() if dt.name not in {"BF16", "BYTES"}}


def _datatype_of(name: str, array: np.ndarray) -> DataType:
    if array.dtype.kind in "OSU":
        return DATATYPES["BYTES"]
    found = _BY_DTYPE.get(array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype)
    if found is None:
        raise CommandError(f"--input {name}: arrays of {array.dtype} are not supported")
    return found


def _load(name: str, path: Path) -> np.ndarray:
    try:
        array: np.ndarray = np.load(path, allow_pickle=False)
    except OSError as error:
        raise CommandError(f"--input {name}: cannot read {path}: {error.strerror or error}") from error
    except (ValueError, EOFError) as error:
        # NumPy's own words mislead: it takes any file it cannot parse for pickled data.
        raise CommandError(f"--input {name}: {path} is not a .npy file of numbers or strings") from error
    return array


def _input(spec: str) -> tuple[grpc_service_pb2.ModelInferRequest.InferInputTensor, bytes]:
    name, _, source = spec.partition("=@")
    if not name or not source:
        raise CommandError(f"--input {spec!r}: expected NAME=@FILE.npy")
    array = _load(name, Path(source))
    datatype = _datatype_of(name, array)
    if datatype.name == "BYTES":
        array = np.vectorize(lambda v: v if isinstance(v, bytes) else str(v).encode(), otypes=[object])(array)
    tensor = grpc_service_pb2.ModelInferRequest.InferInputTensor(
        name=name, datatype=datatype.name, shape=list(array.shape)
    )
    return tensor, encode_raw(datatype, array)


def _output_values(name: str, raw: bytes, shape: list[int]) -> list[Any]:
    datatype = DATATYPES.get(name)
    if datatype is None:
        raise CommandError(f"the server answered with unknown datatype {name}")
    values = decode_raw(datatype, raw, shape)
    if datatype.name == "BF16":
        values = bf16_to_float32(values)
    elif datatype.name == "BYTES":
        values = np.vectorize(lambda v: v.decode("utf-8", errors="replace"), otypes=[object])(values)
    result: list[Any] = values.tolist()
    return result


def _infer(args: argparse.Namespace) -> None:
    inputs = [_input(spec) for spec in args.input]
    request = grpc_service_pb2.ModelInferRequest(
        model_name=args.deployment,
        model_version=args.version,
        inputs=[tensor for tensor, _ in inputs],
        raw_input_contents=[raw for _, raw in inputs],
    )
    with connect(CliSettings()) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(request)
    outputs = {
        tensor.name: {
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
            "data": _output_values(tensor.datatype, raw, list(tensor.shape)),
        }
        for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }
    if args.output == "json":
        answer = {"model_name": response.model_name, "model_version": response.model_version}
        print(json.dumps({**answer, "outputs": outputs}))
        return
    print(f"model {response.model_name}, version {response.model_version}")
    rows = [(name, o["datatype"], o["shape"], _values_shown(o["data"])) for name, o in outputs.items()]
    print(as_rows(("output", "datatype", "shape", "values"), rows))


def _values_shown(data: Any) -> str:
    """The first values of a tensor, flattened, and how many there are: a table cell, not the data."""
    values = np.asarray(data, dtype=object).ravel().tolist()
    shown = " ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values[:_VALUES_SHOWN])
    return shown if len(values) <= _VALUES_SHOWN else f"{shown} ... ({len(values)} values; -o json has all)"


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
