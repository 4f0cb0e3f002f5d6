"""`aiplat infer` turns .npy files into protocol tensors and answers back into values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.cli.client import CommandError
from services.cli.infer_command import _input, _output_values


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
    np.save(tmp_path / "c.npy", np.array([1 + 2j]))
    with pytest.raises(CommandError, match="not supported"):
        _input(f"c=@{tmp_path / 'c.npy'}")
