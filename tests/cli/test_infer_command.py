"""`aiplat infer` turns .npy files into protocol tensors and answers back into values."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from benchmarks.onnx_models import tiny_mlp
from inference import grpc_service_pb2, grpc_service_pb2_grpc
from services.cli.client import CommandError
from services.cli.infer_command import _input, _output_values
from services.cli.main import main
from services.inference.tensors import DATATYPES, encode_raw
from services.runtime.devkeys import DevKeys
from tests.inference.platform import InferenceService

TENANT = "acme"  # the tenant of the `cli_env` token


@pytest.mark.parametrize(
    ("array", "datatype"),
    [
        (np.arange(6, dtype=np.float32).reshape(2, 3), "FP32"),
        (np.arange(4, dtype=np.int64), "INT64"),
        (np.array([1.5, -2.0], dtype=np.float16), "FP16"),
        (np.array([True, False]), "BOOL"),
    ],
)
def test_numeric_arrays_round_trip(tmp_path: Path, array: np.ndarray, datatype: str) -> None:
    np.save(tmp_path / "x.npy", array)
    tensor, raw = _input(f"x=@{tmp_path / 'x.npy'}")
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("x", datatype, list(array.shape))
    assert _output_values(datatype, raw, list(array.shape)) == array.tolist()


def test_strings_travel_as_length_prefixed_bytes(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array(["héllo", "ok"]))
    tensor, raw = _input(f"s=@{tmp_path / 's.npy'}")
    assert tensor.datatype == "BYTES"
    assert raw == b"\x06\x00\x00\x00h\xc3\xa9llo\x02\x00\x00\x00ok"
    assert _output_values("BYTES", raw, [2]) == ["héllo", "ok"]


def test_bf16_outputs_are_shown_as_floats() -> None:
    bits = np.array([0x3FC0, 0xC000], dtype="<u2").tobytes()
    assert _output_values("BF16", bits, [2]) == [1.5, -2.0]


def test_bad_specs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"NAME\[:DATATYPE\]=@FILE"):
        _input("x")
    with pytest.raises(CommandError, match=r"NAME\[:DATATYPE\]=@FILE"):
        _input(f"=@{tmp_path / 'x.npy'}")
    np.save(tmp_path / "c.npy", np.array([1 + 2j]))
    with pytest.raises(CommandError, match="not supported"):
        _input(f"c=@{tmp_path / 'c.npy'}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {file}: No such file or directory"),
        (b"", "{file} is not a .npy file of numbers or strings"),
        (b"\x08\x07\x12\x05onnx", "{file} is not a .npy file of numbers or strings"),
    ],
)
def test_unreadable_files_are_named_with_their_input(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.npy"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(CommandError) as raised:
        _input(f"x=@{path}")

    assert str(raised.value) == f"--input x: {message.format(file=path)}"


@pytest.mark.parametrize("values", [["héllo", "ok"], [b"\x00\xff", b"ok"]])
def test_an_object_array_is_refused_with_how_to_save_it(tmp_path: Path, values: list[Any]) -> None:
    # What pandas' `.to_numpy()` of a text column gives: NumPy stores it pickled.
    path = tmp_path / "s.npy"
    np.save(path, np.array(values, dtype=object), allow_pickle=True)

    with pytest.raises(CommandError) as raised:
        _input(f"s=@{path}")

    assert str(raised.value) == (
        f"--input s: {path} holds Python objects (dtype=object), which only pickle reads and this "
        "command does not run: save text as np.array(values, dtype=str), bytes as dtype=bytes"
    )


@dataclass(frozen=True)
class _Peer:
    address: str


@pytest.fixture
async def inference(
    tmp_path: Path, dev_keys: DevKeys, models_address: str
) -> AsyncIterator[InferenceService]:
    """An inference service in this process following the models service the commands talk to."""
    service = await InferenceService.start(tmp_path, dev_keys, _Peer(models_address), TENANT)
    try:
        yield service
    finally:
        await service.close()


async def _aiplat(*argv: str) -> int:
    # The inference server runs on this event loop, so the blocking command runs in a thread.
    return await asyncio.to_thread(main, list(argv))


@pytest.mark.usefixtures("cli_env")
async def test_infer_prints_the_outputs_onnx_runtime_computes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    inference: InferenceService,
) -> None:
    model = tiny_mlp()
    (tmp_path / "scorer.onnx").write_bytes(model.onnx_bytes)
    x = model.sample(3, seed=1)
    np.save(tmp_path / "x.npy", x)
    assert await _aiplat("models", "create", "scorer") == 0
    assert await _aiplat("models", "upload", "scorer", str(tmp_path / "scorer.onnx")) == 0
    assert await _aiplat("deploy", "create", "scorer", "--model", "scorer", "--traffic", "1=100") == 0
    await inference.serving(TENANT, "scorer", generation=1)
    capsys.readouterr()
    monkeypatch.setenv("AIPLAT_ADDRESS", f"127.0.0.1:{inference.handle.port}")

    assert await _aiplat("infer", "scorer", "--input", f"input=@{tmp_path / 'x.npy'}") == 0
    header, columns, row = capsys.readouterr().out.splitlines()
    assert header == "model scorer, version 1"
    assert columns.split() == ["OUTPUT", "DATATYPE", "SHAPE", "VALUES"]
    assert row.startswith("output  FP32      [3, 10]  ")
    assert row.endswith("... (30 values; -o json has all)")

    assert await _aiplat("infer", "scorer", "--input", f"input=@{tmp_path / 'x.npy'}", "-o", "json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["model_name"], printed["model_version"]) == ("scorer", "1")
    [(name, output)] = printed["outputs"].items()
    assert (name, output["datatype"], output["shape"]) == ("output", "FP32", [3, 10])
    session = ort.InferenceSession(model.onnx_bytes, providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(np.array(output["data"], dtype=np.float32), expected, rtol=1e-5, atol=1e-6)
    # The table shows the first values, in the order of the flattened tensor.
    first = [float(v) for v in row[row.index("]") + 1 :].split("...")[0].split()]
    np.testing.assert_allclose(first, expected.ravel()[:8], rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("cli_env")
async def test_infer_of_an_unknown_deployment_fails_with_not_found(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    inference: InferenceService,
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 64), np.float32))
    monkeypatch.setenv("AIPLAT_ADDRESS", f"127.0.0.1:{inference.handle.port}")

    assert await _aiplat("infer", "missing", "--input", f"input=@{tmp_path / 'x.npy'}") == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("NOT_FOUND: model 'missing' is not loaded")
    assert "reason: MODEL_NOT_FOUND" in captured.err


class _FixedAnswer(grpc_service_pb2_grpc.GRPCInferenceServiceServicer):
    """An inference server that answers every call with the same outputs, whatever the inputs."""

    def __init__(self, outputs: dict[str, tuple[str, np.ndarray]]) -> None:
        self._outputs = outputs

    def ModelInfer(  # noqa: N802 - the gRPC method name
        self, request: grpc_service_pb2.ModelInferRequest, context: grpc.ServicerContext
    ) -> grpc_service_pb2.ModelInferResponse:
        return grpc_service_pb2.ModelInferResponse(
            model_name=request.model_name,
            model_version="1",
            outputs=[
                grpc_service_pb2.ModelInferResponse.InferOutputTensor(
                    name=name, datatype=datatype, shape=list(array.shape)
                )
                for name, (datatype, array) in self._outputs.items()
            ],
            raw_output_contents=[
                encode_raw(DATATYPES[datatype], array) for datatype, array in self._outputs.values()
            ],
        )


@contextmanager
def _answering(outputs: dict[str, tuple[str, np.ndarray]]) -> Iterator[str]:
    # As large as the platform's own servers send (services.runtime.server).
    limit = 16 * 1024 * 1024
    options = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=options)
    grpc_service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(_FixedAnswer(outputs), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def _infer_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, address: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("AIPLAT_ADDRESS", address)
    monkeypatch.setenv("AIPLAT_TOKEN", "token")
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    status = main(["infer", "scorer", "--input", f"input=@{tmp_path / 'x.npy'}", "-o", "json"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_outputs_larger_than_grpc_default_of_4_mib_are_received(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 6 MiB of FP32: under the 16 MiB the platform's servers send, over gRPC's default receive limit.
    big = np.arange(6 * 1024 * 1024 // 4, dtype=np.float32)
    with _answering({"output": ("FP32", big)}) as address:
        status, out, err = _infer_json(monkeypatch, capsys, tmp_path, address)

    assert (status, err) == (0, "")
    [(name, output)] = json.loads(out)["outputs"].items()
    assert (name, output["shape"]) == ("output", [big.size])
    np.testing.assert_array_equal(np.array(output["data"], dtype=np.float32), big)


class _Echo(grpc_service_pb2_grpc.GRPCInferenceServiceServicer):
    """An inference server whose outputs are the inputs it received, as they came."""

    def ModelInfer(  # noqa: N802 - the gRPC method name
        self, request: grpc_service_pb2.ModelInferRequest, context: grpc.ServicerContext
    ) -> grpc_service_pb2.ModelInferResponse:
        return grpc_service_pb2.ModelInferResponse(
            model_name=request.model_name,
            model_version="1",
            outputs=[
                grpc_service_pb2.ModelInferResponse.InferOutputTensor(
                    name=t.name, datatype=t.datatype, shape=t.shape
                )
                for t in request.inputs
            ],
            raw_output_contents=request.raw_input_contents,
        )


@pytest.fixture
def echo_address(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    grpc_service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(_Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("AIPLAT_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv("AIPLAT_TOKEN", "token")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@pytest.mark.usefixtures("echo_address")
def test_an_input_can_be_sent_as_the_datatype_the_model_declares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # np.random.rand gives float64, and NumPy has no bfloat16: without a declared datatype a BF16
    # or FP32 model could not be called with them.
    np.save(tmp_path / "x.npy", np.array([[1.5, -2.0, 0.1]]))
    np.save(tmp_path / "pixels.npy", np.array([0, 7, 255]))  # NumPy's default int64
    argv = ["infer", "echo", "-o", "json"]
    specs = [
        f"x:BF16=@{tmp_path / 'x.npy'}",
        f"y:FP32=@{tmp_path / 'x.npy'}",
        f"z:0=@{tmp_path / 'x.npy'}",
        f"pixels:UINT8=@{tmp_path / 'pixels.npy'}",
    ]

    assert main([*argv, *(arg for spec in specs for arg in ("--input", spec))]) == 0

    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert {name: (o["datatype"], o["shape"]) for name, o in outputs.items()} == {
        "x": ("BF16", [1, 3]),
        "y": ("FP32", [1, 3]),
        "z:0": ("FP64", [1, 3]),  # a TensorFlow-style name, with no datatype after its colon
        "pixels": ("UINT8", [3]),
    }
    assert outputs["x"]["data"] == [[1.5, -2.0, 0.10009765625]]  # 0.1 rounded to BF16
    assert outputs["y"]["data"] == [[1.5, -2.0, float(np.float32(0.1))]]
    assert outputs["pixels"]["data"] == [0, 7, 255]


@pytest.mark.usefixtures("echo_address")
def test_text_values_in_the_table_are_quoted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "s.npy", np.array(["two words", "two\nlines"]))

    assert main(["infer", "echo", "--input", f"s=@{tmp_path / 's.npy'}"]) == 0

    # One row per output, and each value told apart from the next.
    _, _, row = capsys.readouterr().out.splitlines()
    assert row.split("  ")[-1] == '"two words" "two\\nlines"'


@pytest.mark.parametrize(
    ("array", "spec", "message"),
    [
        (np.array([1.5]), "x:INT32", "--input x: cannot send float64 values as INT32"),
        (np.array([300]), "x:UINT8", "--input x: cannot send int64 values as UINT8: 300 is out of range"),
        (np.array([-1]), "x:UINT64", "--input x: cannot send int64 values as UINT64: -1 is out of range"),
        (np.array([1, 2]), "x:BYTES", "--input x: cannot send int64 values as BYTES"),
        (np.array(["a"]), "x:FP32", "--input x: cannot send <U1 values as FP32"),
    ],
)
def test_a_datatype_the_values_do_not_fit_is_refused(
    tmp_path: Path, array: np.ndarray, spec: str, message: str
) -> None:
    np.save(tmp_path / "x.npy", array)

    with pytest.raises(CommandError) as raised:
        _input(f"{spec}=@{tmp_path / 'x.npy'}")

    assert str(raised.value) == message


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("datatype", ["FP32", "FP16", "FP64", "BF16"])
def test_json_output_of_non_finite_values_is_valid_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, datatype: str
) -> None:
    values = np.array([[np.nan, np.inf], [-np.inf, 1.5]], dtype=np.float32)
    with _answering({"logits": (datatype, values)}) as address:
        status, out, err = _infer_json(monkeypatch, capsys, tmp_path, address)

    assert (status, err) == (0, "")
    # As protobuf's JSON mapping writes floats: the non-finite ones as strings.
    assert _strict_json(out)["outputs"]["logits"]["data"] == [["NaN", "Infinity"], ["-Infinity", 1.5]]
