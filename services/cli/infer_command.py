"""`aiplat infer`: one Open Inference Protocol call with tensors from .npy files."""

from __future__ import annotations

import argparse
import json
import math
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
        if _holds_objects(path):
            raise CommandError(
                f"--input {name}: {path} holds Python objects (dtype=object), which only pickle reads "
                "and this command does not run: save text as np.array(values, dtype=str), "
                "bytes as dtype=bytes"
            ) from error
        raise CommandError(f"--input {name}: {path} is not a .npy file of numbers or strings") from error
    return array


def _holds_objects(path: Path) -> bool:
    """Whether the header of the .npy file at ``path`` declares an array of Python objects."""
    try:
        with path.open("rb") as handle:
            # Version 3 differs from 2 only in the header's text encoding, which a dtype of
            # objects ("|O") does not depend on.
            read_header = (
                np.lib.format.read_array_header_1_0
                if np.lib.format.read_magic(handle) == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = read_header(handle)
    except (OSError, ValueError, EOFError):
        return False
    return bool(dtype.hasobject)


def _declared(name: str, array: np.ndarray, datatype: DataType) -> np.ndarray:
    """``array`` as values of ``datatype``, refused where the conversion could change their kind.

    BF16 takes floats (rounded to nearest) or ``uint16`` arrays of its bit patterns.
    """
    refused = CommandError(f"--input {name}: cannot send {array.dtype} values as {datatype.name}")
    if datatype.name == "BYTES" or array.dtype.kind in "OSU":
        if datatype.name != "BYTES" or array.dtype.kind not in "OSU":
            raise refused
        return array
    if datatype.name == "BF16":
        if array.dtype.kind != "f" and array.dtype != np.uint16:
            raise refused
        return array
    # Integers of either sign convert when in range: NumPy's default int64 for a UINT8 image input.
    integers = datatype.dtype.kind in "iu" and array.dtype.kind in "biu"
    if not integers and not np.can_cast(array.dtype, datatype.dtype, "same_kind"):
        raise refused
    if datatype.dtype.kind in "iu" and array.size:
        limits = np.iinfo(datatype.dtype)
        for value in (array.min(), array.max()):
            if not limits.min <= value <= limits.max:
                raise CommandError(f"{refused}: {value} is out of range")
    return array.astype(datatype.dtype)


def _input(spec: str) -> tuple[grpc_service_pb2.ModelInferRequest.InferInputTensor, bytes]:
    name, _, source = spec.partition("=@")
    # A name may hold colons itself (TensorFlow's `input:0`): only a datatype after the last one
    # declares the datatype.
    before, _, suffix = name.rpartition(":")
    declared = DATATYPES.get(suffix) if before else None
    if declared is not None:
        name = before
    if not name or not source:
        raise CommandError(f"--input {spec!r}: expected NAME[:DATATYPE]=@FILE.npy")
    array = _load(name, Path(source))
    if declared is None:
        datatype = _datatype_of(name, array)
    else:
        datatype, array = declared, _declared(name, array, declared)
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
        print(json.dumps({**answer, "outputs": _json_safe(outputs)}, allow_nan=False))
        return
    print(f"model {response.model_name}, version {response.model_version}")
    rows = [(name, o["datatype"], o["shape"], _values_shown(o["data"])) for name, o in outputs.items()]
    print(as_rows(("output", "datatype", "shape", "values"), rows))


def _json_safe(value: Any) -> Any:
    """``value`` with each NaN and infinity as the string protobuf's JSON mapping writes for it.

    ``json.dumps`` would write the bare words NaN and Infinity, which no strict JSON parser reads.
    """
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _values_shown(data: Any) -> str:
    """The first values of a tensor, flattened, and how many there are: a table cell, not the data."""
    values = np.asarray(data, dtype=object).ravel().tolist()
    shown = " ".join(_value_shown(v) for v in values[:_VALUES_SHOWN])
    return shown if len(values) <= _VALUES_SHOWN else f"{shown} ... ({len(values)} values; -o json has all)"


def _value_shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    # Quoted, so that a space or a line break inside a text value cannot pass for a separator.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    infer = commands.add_parser(
        "infer", parents=[common], help="call a deployment with tensors from .npy files"
    )
    infer.add_argument("deployment")
    infer.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="NAME[:DATATYPE]=@FILE.npy",
        help="an input tensor; DATATYPE (e.g. FP32, BF16) converts the file's values, "
        "which otherwise travel as the datatype of their NumPy dtype",
    )
    infer.add_argument("--version", default="", help="pin a version instead of the traffic split")
    infer.set_defaults(handler=_infer)
