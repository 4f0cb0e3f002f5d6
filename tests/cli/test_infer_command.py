"""`aiplat infer` turns .npy files into protocol tensors and answers back into values."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from benchmarks.onnx_models import tiny_mlp
from services.cli.client import CommandError
from services.cli.infer_command import _input, _output_values
from services.cli.main import main
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
    with pytest.raises(CommandError, match="NAME=@FILE"):
        _input("x")
    with pytest.raises(CommandError, match="NAME=@FILE"):
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
