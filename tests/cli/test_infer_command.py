"""`aiplat infer` turns .npy files into protocol tensors and answers back into values."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import pytest_asyncio
from onnx import TensorProto, helper

from benchmarks.onnx_models import tiny_mlp
from services.cli.client import CommandError
from services.cli.infer_command import _input, _output_values
from services.cli.main import main
from services.runtime.devkeys import DevKeys, mint_token
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


# The inference service runs on the module's event loop, so that it starts and deploys once: every
# test that calls it runs on that loop too.
_on_the_service_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def inference(
    tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys, models_address: str
) -> AsyncIterator[InferenceService]:
    """An inference service in this process following the models service the commands talk to."""
    directory = tmp_path_factory.mktemp("inference")
    service = await InferenceService.start(directory, dev_keys, _Peer(models_address), TENANT)
    try:
        yield service
    finally:
        await service.close()


async def _aiplat(*argv: str) -> int:
    # The inference server runs on this event loop, so the blocking command runs in a thread.
    return await asyncio.to_thread(main, list(argv))


def _onnx(
    nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]
) -> bytes:
    model = helper.make_model(
        helper.make_graph(nodes, "model", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8  # readable by every ONNX Runtime the project supports
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _echo(inputs: dict[str, tuple[int, list[int]]]) -> bytes:
    """A model whose output ``echo <name>`` is its input ``name``, of the element type and shape given."""
    return _onnx(
        [helper.make_node("Identity", [name], [f"echo {name}"]) for name in inputs],
        [helper.make_tensor_value_info(name, *declared) for name, declared in inputs.items()],
        [helper.make_tensor_value_info(f"echo {name}", *declared) for name, declared in inputs.items()],
    )


def _counting() -> bytes:
    """``output`` = 0, 1, ... up to the one value of ``limit`` (FP32): a large answer to a small call."""
    zero, one = (
        helper.make_tensor(name, TensorProto.FLOAT, [], [v]) for name, v in (("zero", 0.0), ("one", 1.0))
    )
    return _onnx(
        [
            helper.make_node("Constant", [], ["zero"], value=zero),
            helper.make_node("Constant", [], ["one"], value=one),
            helper.make_node("Squeeze", ["limit"], ["end"]),
            helper.make_node("Range", ["zero", "end", "one"], ["output"]),
        ],
        [helper.make_tensor_value_info("limit", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None])],
    )


_NON_FINITE_TYPES = {
    "FP32": TensorProto.FLOAT,
    "FP16": TensorProto.FLOAT16,
    "FP64": TensorProto.DOUBLE,
    "BF16": TensorProto.BFLOAT16,
}


def _dividing_by_zero() -> bytes:
    """``x / [[0, 0], [0, 1]]`` (FP32), and that cast to each float datatype as output ``logits <TYPE>``."""
    divisor = helper.make_tensor("divisor", TensorProto.FLOAT, [2, 2], [0.0, 0.0, 0.0, 1.0])
    return _onnx(
        [
            helper.make_node("Constant", [], ["divisor"], value=divisor),
            helper.make_node("Div", ["x", "divisor"], ["quotient"]),
            *(
                helper.make_node("Cast", ["quotient"], [f"logits {name}"], to=element)
                for name, element in _NON_FINITE_TYPES.items()
            ),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [
            helper.make_tensor_value_info(f"logits {name}", element, [2, 2])
            for name, element in _NON_FINITE_TYPES.items()
        ],
    )


# Each deployed once for the module, under the model's own name.
_MODELS = {
    "counting": _counting(),
    "non-finite": _dividing_by_zero(),
    "echo": _echo(
        {
            "x": (TensorProto.BFLOAT16, [1, 3]),
            "bits": (TensorProto.BFLOAT16, [2]),
            "y": (TensorProto.FLOAT, [1, 3]),
            "z:0": (TensorProto.DOUBLE, [1, 3]),
            "pixels": (TensorProto.UINT8, [3]),
            "offsets": (TensorProto.INT8, [3]),
            "ids": (TensorProto.UINT64, [2]),
        }
    ),
    "echo-text": _echo({"s": (TensorProto.STRING, [2])}),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployed(
    tmp_path_factory: pytest.TempPathFactory,
    dev_keys: DevKeys,
    models_address: str,
    inference: InferenceService,
) -> None:
    """Every model of ``_MODELS`` registered, uploaded and served by ``inference``."""
    directory = tmp_path_factory.mktemp("onnx")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIPLAT_ADDRESS", models_address)
        env.setenv("AIPLAT_TOKEN", mint_token(dev_keys, subject="alice", tenant=TENANT, roles=["editor"]))
        for name, model in _MODELS.items():
            path = directory / f"{name}.onnx"
            path.write_bytes(model)
            for argv in (
                ("models", "create", name),
                ("models", "upload", name, str(path)),
                ("deploy", "create", name, "--model", name, "--traffic", "1=100"),
            ):
                assert await _aiplat(*argv, "-o", "json") == 0
    await asyncio.gather(*(inference.serving(TENANT, name, generation=1) for name in _MODELS))


@pytest.fixture
def at_inference(cli_env: str, monkeypatch: pytest.MonkeyPatch, inference: InferenceService) -> None:
    """The commands pointed at ``inference``, with ``cli_env``'s token."""
    monkeypatch.setenv("AIPLAT_ADDRESS", f"127.0.0.1:{inference.handle.port}")


@_on_the_service_loop
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


@_on_the_service_loop
@pytest.mark.usefixtures("at_inference")
async def test_infer_of_an_unknown_deployment_fails_with_not_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 64), np.float32))

    assert await _aiplat("infer", "missing", "--input", f"input=@{tmp_path / 'x.npy'}") == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("NOT_FOUND: model 'missing' is not loaded")
    assert "reason: MODEL_NOT_FOUND" in captured.err


@_on_the_service_loop
@pytest.mark.usefixtures("deployed", "at_inference")
async def test_outputs_larger_than_grpc_default_of_4_mib_are_received(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 6 MiB of FP32: under the 16 MiB the platform's servers send, over gRPC's default receive limit.
    count = 6 * 1024 * 1024 // 4
    np.save(tmp_path / "limit.npy", np.array([count], np.float32))

    assert (
        await _aiplat("infer", "counting", "--input", f"limit=@{tmp_path / 'limit.npy'}", "-o", "json") == 0
    )

    [(name, output)] = json.loads(capsys.readouterr().out)["outputs"].items()
    assert (name, output["datatype"], output["shape"]) == ("output", "FP32", [count])
    np.testing.assert_array_equal(
        np.array(output["data"], dtype=np.float32), np.arange(count, dtype=np.float32)
    )


@_on_the_service_loop
@pytest.mark.usefixtures("deployed", "at_inference")
async def test_an_input_can_be_sent_as_the_datatype_the_model_declares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # np.random.rand gives float64, and NumPy has no bfloat16: without a declared datatype a BF16
    # or FP32 model could not be called with them.
    np.save(tmp_path / "x.npy", np.array([[1.5, -2.0, 0.1]]))
    np.save(tmp_path / "bits.npy", np.array([0x3FC0, 0xC000], dtype=np.uint16))  # BF16's 1.5 and -2
    np.save(tmp_path / "pixels.npy", np.array([0, 7, 255]))  # NumPy's default int64
    np.save(tmp_path / "offsets.npy", np.array([-128, 0, 127]))
    np.save(tmp_path / "ids.npy", np.array([0, 2**62]))
    specs = [
        f"x:BF16=@{tmp_path / 'x.npy'}",
        f"bits:BF16=@{tmp_path / 'bits.npy'}",
        f"y:FP32=@{tmp_path / 'x.npy'}",
        f"z:0=@{tmp_path / 'x.npy'}",
        f"pixels:UINT8=@{tmp_path / 'pixels.npy'}",
        f"offsets:INT8=@{tmp_path / 'offsets.npy'}",
        f"ids:UINT64=@{tmp_path / 'ids.npy'}",
    ]

    assert (
        await _aiplat("infer", "echo", "-o", "json", *(arg for spec in specs for arg in ("--input", spec)))
        == 0
    )

    # The model refuses any other datatype, so each answer is also what the server was sent.
    outputs = json.loads(capsys.readouterr().out)["outputs"]
    assert {name: (o["datatype"], o["shape"], o["data"]) for name, o in outputs.items()} == {
        "echo x": ("BF16", [1, 3], [[1.5, -2.0, 0.10009765625]]),  # 0.1 rounded to BF16
        "echo bits": ("BF16", [2], [1.5, -2.0]),
        "echo y": ("FP32", [1, 3], [[1.5, -2.0, float(np.float32(0.1))]]),
        "echo z:0": ("FP64", [1, 3], [[1.5, -2.0, 0.1]]),  # a TensorFlow-style name, no datatype after it
        "echo pixels": ("UINT8", [3], [0, 7, 255]),
        "echo offsets": ("INT8", [3], [-128, 0, 127]),
        "echo ids": ("UINT64", [2], [0, 2**62]),
    }


@_on_the_service_loop
@pytest.mark.usefixtures("deployed", "at_inference")
async def test_text_values_in_the_table_are_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "s.npy", np.array(["two words", "two\nlines"]))

    assert await _aiplat("infer", "echo-text", "--input", f"s=@{tmp_path / 's.npy'}") == 0

    # One row per output, and each value told apart from the next.
    _, _, row = capsys.readouterr().out.splitlines()
    assert row.startswith("echo s  BYTES     [2]  ")
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


@_on_the_service_loop
@pytest.mark.usefixtures("deployed", "at_inference")
async def test_json_output_of_non_finite_values_is_valid_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "x.npy", np.array([[0.0, 1.0], [-1.0, 1.5]], np.float32))

    assert await _aiplat("infer", "non-finite", "--input", f"x=@{tmp_path / 'x.npy'}", "-o", "json") == 0

    # As protobuf's JSON mapping writes floats: the non-finite ones as strings.
    outputs = _strict_json(capsys.readouterr().out)["outputs"]
    expected = [["NaN", "Infinity"], ["-Infinity", 1.5]]
    assert {name: (o["datatype"], o["data"]) for name, o in outputs.items()} == {
        f"logits {datatype}": (datatype, expected) for datatype in _NON_FINITE_TYPES
    }
