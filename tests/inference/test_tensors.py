"""The tensor codec: every datatype round-trips, raw decoding is a view, bad data is refused."""

from __future__ import annotations

import struct

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper

from services.inference.tensors import (
    DATATYPES,
    CodecError,
    bf16_to_float32,
    datatype,
    datatype_for_onnx,
    datatype_for_ort,
    decode_contents,
    decode_raw,
    encode_contents,
    encode_raw,
    float32_to_bf16,
)

from .support import identity_model, open_session, serialize

NUMERIC = [name for name in DATATYPES if name not in ("BYTES", "BF16")]


def _sample(name: str, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    rng = np.random.default_rng(7)
    dtype = DATATYPES[name].dtype
    if name == "BOOL":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) * 100).astype(dtype)


@pytest.mark.parametrize("name", NUMERIC)
def test_raw_round_trip_is_exact_and_decodes_without_copy(name: str) -> None:
    array = _sample(name)
    raw = encode_raw(DATATYPES[name], array)
    assert len(raw) == array.size * DATATYPES[name].itemsize
    decoded = decode_raw(DATATYPES[name], raw, array.shape)
    np.testing.assert_array_equal(decoded, array)
    assert decoded.dtype == DATATYPES[name].dtype
    assert not decoded.flags.owndata, "raw contents must be decoded as a view of the request bytes"


def test_raw_is_little_endian() -> None:
    raw = encode_raw(DATATYPES["INT32"], np.array([1, 256], dtype=np.int32))
    assert raw == struct.pack("<ii", 1, 256)
    big_endian = np.array([1.5], dtype=">f4")
    assert encode_raw(DATATYPES["FP32"], big_endian) == struct.pack("<f", 1.5)


@pytest.mark.parametrize("name", [n for n in NUMERIC if n != "FP16"])
def test_typed_contents_round_trip(name: str) -> None:
    array = _sample(name)
    values = encode_contents(DATATYPES[name], array)
    assert isinstance(values, list)
    np.testing.assert_array_equal(decode_contents(DATATYPES[name], values, array.shape), array)


def test_bytes_round_trip_keeps_empty_and_binary_elements() -> None:
    elements = np.array([[b"", b"\x00\xff"], [b"hello", "h\u00e9".encode()]], dtype=object)
    raw = encode_raw(DATATYPES["BYTES"], elements)
    assert raw[:4] == b"\x00\x00\x00\x00"
    assert raw[4:10] == struct.pack("<I", 2) + b"\x00\xff"
    decoded = decode_raw(DATATYPES["BYTES"], raw, (2, 2))
    assert decoded.dtype == object
    assert decoded.tolist() == elements.tolist()
    contents = encode_contents(DATATYPES["BYTES"], elements)
    assert decode_contents(DATATYPES["BYTES"], contents, (2, 2)).tolist() == elements.tolist()


def test_bytes_as_text_decodes_utf8_and_encodes_str() -> None:
    raw = encode_raw(DATATYPES["BYTES"], np.array(["h\u00e9", ""], dtype=object))
    assert decode_raw(DATATYPES["BYTES"], raw, (2,), text=True).tolist() == ["h\u00e9", ""]
    with pytest.raises(CodecError) as caught:
        decode_raw(DATATYPES["BYTES"], struct.pack("<I", 1) + b"\xff", (1,), text=True)
    assert caught.value.reason == "INVALID_UTF8"


@pytest.mark.parametrize(
    ("raw", "count", "reason"),
    [
        (struct.pack("<I", 1) + b"a", 2, "ELEMENT_COUNT_MISMATCH"),
        (struct.pack("<I", 1) + b"a" + struct.pack("<I", 0), 1, "ELEMENT_COUNT_MISMATCH"),
        (struct.pack("<I", 5) + b"abc", 1, "BYTES_TRUNCATED"),
        (b"\x01\x00", 1, "ELEMENT_COUNT_MISMATCH"),
        # Shapes claiming more elements than the data could hold, even too many for memory.
        (struct.pack("<I", 0), 2**30, "ELEMENT_COUNT_MISMATCH"),
        (struct.pack("<I", 0), 2**61, "ELEMENT_COUNT_MISMATCH"),
    ],
)
def test_malformed_bytes_are_refused(raw: bytes, count: int, reason: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode_raw(DATATYPES["BYTES"], raw, (count,))
    assert caught.value.reason == reason


def _bool_logic_model() -> bytes:
    """x [B] BOOL -> y = Not(x), n = Cast(x, INT32)."""
    return serialize(
        [
            helper.make_node("Not", ["x"], ["y"]),
            helper.make_node("Cast", ["x"], ["n"], to=TensorProto.INT32),
        ],
        [helper.make_tensor_value_info("x", TensorProto.BOOL, ["batch"])],
        [
            helper.make_tensor_value_info("y", TensorProto.BOOL, ["batch"]),
            helper.make_tensor_value_info("n", TensorProto.INT32, ["batch"]),
        ],
    )


def test_bool_raw_decodes_canonical_bytes_and_onnx_runtime_computes_on_them() -> None:
    decoded = decode_raw(DATATYPES["BOOL"], b"\x01\x00", (2,))
    result = open_session(_bool_logic_model()).run({"x": decoded})
    assert encode_raw(DATATYPES["BOOL"], result["y"]) == b"\x00\x01"
    assert result["n"].tolist() == [1, 0]


@pytest.mark.parametrize("raw", [b"\x02", b"\x00\xff", b"\x01\x80\x00"])
def test_bool_raw_bytes_other_than_0_and_1_are_refused(raw: bytes) -> None:
    # NumPy reads such a byte as True, but ONNX Runtime computes on the byte itself:
    # Not(0x02) is 0x03 (True again) and Cast(0x02, INT32) is 2.
    with pytest.raises(CodecError) as caught:
        decode_raw(DATATYPES["BOOL"], raw, (len(raw),))
    assert caught.value.reason == "VALUE_OUT_OF_RANGE"


def test_raw_length_must_match_the_shape() -> None:
    with pytest.raises(CodecError) as caught:
        decode_raw(DATATYPES["FP32"], b"\x00" * 12, (2, 2))
    assert caught.value.reason == "BYTE_SIZE_MISMATCH"
    assert "12 bytes" in str(caught.value)
    assert "needs 16" in str(caught.value)


def test_fp16_round_trips_through_raw_and_onnx_runtime() -> None:
    values = np.array([[0.5, -2.0, 65504.0]], dtype=np.float16)
    raw = encode_raw(DATATYPES["FP16"], values)
    assert raw == values.astype("<f2").tobytes()
    decoded = decode_raw(DATATYPES["FP16"], raw, (1, 3))
    session = open_session(identity_model(TensorProto.FLOAT16, ["batch", 3]))
    result = session.run({"x": decoded})["y"]
    assert result.dtype == np.float16
    assert encode_raw(DATATYPES["FP16"], result) == raw


def test_bf16_rounds_to_nearest_even_like_ml_dtypes() -> None:
    specials = [1.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8, -0.0, np.inf, -np.inf, 3.4e38, 1e-40, -1e-45]
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [np.array(specials, np.float32), rng.standard_normal(2000).astype(np.float32) * 1e3]
    )
    expected = values.astype(ml_dtypes.bfloat16).view(np.uint16)
    np.testing.assert_array_equal(float32_to_bf16(values), expected)
    assert float32_to_bf16(np.float32(1.0 + 2**-8)) == 0x3F80  # tie goes to the even mantissa
    assert float32_to_bf16(np.float32(1.0 + 3 * 2**-8)) == 0x3F82


def test_bf16_keeps_nan_a_nan_of_the_same_sign() -> None:
    nans = np.array([0x7FFFFFFF, 0xFFFFFFFF, 0x7F800001], dtype=np.uint32).view(np.float32)
    bits = float32_to_bf16(nans)
    assert np.isnan(bf16_to_float32(bits)).all()
    assert (bits >> 15).tolist() == [0, 1, 0]


def test_bf16_round_trips_as_bits_through_raw_and_onnx_runtime() -> None:
    values = np.array([[1.5, -0.09375]], dtype=np.float32)  # both exact in bfloat16
    raw = encode_raw(DATATYPES["BF16"], values)
    bits = decode_raw(DATATYPES["BF16"], raw, (1, 2))
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(bf16_to_float32(bits), values)
    session = open_session(identity_model(TensorProto.BFLOAT16, ["batch", 2]))
    result = session.run({"x": bits})["y"]
    assert encode_raw(DATATYPES["BF16"], result) == raw


def test_bytes_identity_model_returns_the_strings() -> None:
    session = open_session(identity_model(TensorProto.STRING, ["batch", 2]))
    raw = encode_raw(DATATYPES["BYTES"], np.array([["a", "\u00e9t\u00e9"]], dtype=object))
    result = session.run({"x": decode_raw(DATATYPES["BYTES"], raw, (1, 2), text=True)})["y"]
    assert encode_raw(DATATYPES["BYTES"], result) == raw


@pytest.mark.parametrize(("name", "value"), [("INT8", 128), ("INT8", -129), ("UINT8", 256), ("INT16", 40000)])
def test_narrow_integer_contents_out_of_range_are_refused(name: str, value: int) -> None:
    with pytest.raises(CodecError) as caught:
        decode_contents(DATATYPES[name], [0, value], (2,))
    assert caught.value.reason == "VALUE_OUT_OF_RANGE"


@pytest.mark.parametrize("name", ["FP16", "BF16"])
def test_half_precision_has_no_typed_contents(name: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode_contents(DATATYPES[name], [1.0], (1,))
    assert caught.value.reason == "CONTENTS_UNSUPPORTED"


def test_contents_count_must_match_the_shape() -> None:
    with pytest.raises(CodecError) as caught:
        decode_contents(DATATYPES["FP32"], [1.0, 2.0, 3.0], (2, 2))
    assert caught.value.reason == "ELEMENT_COUNT_MISMATCH"


@pytest.mark.parametrize("name", list(DATATYPES))
def test_onnx_and_onnx_runtime_mappings_agree(name: str) -> None:
    dt = DATATYPES[name]
    assert datatype(name) is dt
    assert datatype_for_onnx(dt.onnx_type) is dt
    assert datatype_for_ort(dt.ort_type) is dt
    if name not in ("BYTES", "BF16"):
        assert np.dtype(helper.tensor_dtype_to_np_dtype(dt.onnx_type)) == dt.dtype.newbyteorder("=")


def test_unknown_types_are_refused() -> None:
    with pytest.raises(CodecError):
        datatype("FP8")
    with pytest.raises(CodecError):
        datatype_for_ort("seq(tensor(float))")
    with pytest.raises(CodecError):
        datatype_for_onnx(TensorProto.COMPLEX64)
