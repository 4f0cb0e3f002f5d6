"""The Open Inference Protocol's tensor datatypes and their wire encodings.

Decoding raw contents is a zero-copy ``np.frombuffer`` view (read-only, as the
request's bytes are immutable); only BYTES needs a pass over its elements.

BF16 has no NumPy dtype.  It is kept as its raw ``uint16`` bit patterns from
the wire all the way to ONNX Runtime (which accepts them as an OrtValue of
ONNX type BFLOAT16), so nothing is rounded twice and no copy is made;
:func:`bf16_to_float32` widens them exactly when float32 values are needed
(preprocessing, tests).  Encoding BF16 takes either those bits or float32
values, rounded to nearest-even.

Errors are :class:`CodecError` (a ``ValueError``) without a tensor name;
:mod:`.validation` turns them into :class:`~.errors.InvalidInput` naming it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from onnx import TensorProto

__all__ = [
    "DATATYPES",
    "CodecError",
    "DataType",
    "bf16_to_float32",
    "datatype",
    "datatype_for_onnx",
    "datatype_for_ort",
    "decode_contents",
    "decode_raw",
    "element_count",
    "encode_contents",
    "encode_raw",
    "float32_to_bf16",
]


class CodecError(ValueError):
    """Tensor data does not match its declared datatype and shape."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DataType:
    """One protocol datatype and how it maps to NumPy, ONNX and ONNX Runtime."""

    name: str
    """Protocol spelling, e.g. ``FP32``."""
    dtype: np.dtype[Any]
    """Little-endian NumPy dtype of the decoded array; ``object`` for BYTES, ``uint16`` bits for BF16."""
    onnx_type: int
    """``onnx.TensorProto`` element type."""
    ort_type: str
    """ONNX Runtime's type string, e.g. ``tensor(float)``."""
    contents_field: str | None
    """``InferTensorContents`` field carrying typed values, None where the protocol has none."""

    @property
    def itemsize(self) -> int:
        """Bytes per element on the wire; 0 for the variable-length BYTES."""
        return 0 if self.name == "BYTES" else self.dtype.itemsize


def _dt(name: str, dtype: str, onnx_type: int, ort: str, field: str | None) -> DataType:
    return DataType(name, np.dtype(dtype), onnx_type, f"tensor({ort})", field)


DATATYPES: Mapping[str, DataType] = {
    d.name: d
    for d in (
        _dt("BOOL", "?", TensorProto.BOOL, "bool", "bool_contents"),
        _dt("UINT8", "u1", TensorProto.UINT8, "uint8", "uint_contents"),
        _dt("UINT16", "<u2", TensorProto.UINT16, "uint16", "uint_contents"),
        _dt("UINT32", "<u4", TensorProto.UINT32, "uint32", "uint_contents"),
        _dt("UINT64", "<u8", TensorProto.UINT64, "uint64", "uint64_contents"),
        _dt("INT8", "i1", TensorProto.INT8, "int8", "int_contents"),
        _dt("INT16", "<i2", TensorProto.INT16, "int16", "int_contents"),
        _dt("INT32", "<i4", TensorProto.INT32, "int32", "int_contents"),
        _dt("INT64", "<i8", TensorProto.INT64, "int64", "int64_contents"),
        _dt("FP16", "<f2", TensorProto.FLOAT16, "float16", None),
        _dt("FP32", "<f4", TensorProto.FLOAT, "float", "fp32_contents"),
        _dt("FP64", "<f8", TensorProto.DOUBLE, "double", "fp64_contents"),
        _dt("BYTES", "O", TensorProto.STRING, "string", "bytes_contents"),
        _dt("BF16", "<u2", TensorProto.BFLOAT16, "bfloat16", None),
    )
}
_BY_ONNX = {d.onnx_type: d for d in DATATYPES.values()}
_BY_ORT = {d.ort_type: d for d in DATATYPES.values()}
_LENGTH = struct.Struct("<I")


def datatype(name: str) -> DataType:
    """The datatype spelled ``name``; raises :class:`CodecError` for unknown spellings."""
    try:
        return DATATYPES[name]
    except KeyError:
        raise CodecError(f"unknown datatype {name!r}", "UNKNOWN_DATATYPE") from None


def datatype_for_onnx(onnx_type: int) -> DataType:
    """The datatype of an ``onnx.TensorProto`` element type."""
    try:
        return _BY_ONNX[onnx_type]
    except KeyError:
        raise CodecError(f"ONNX element type {onnx_type} has no protocol datatype", "UNSUPPORTED") from None


def datatype_for_ort(ort_type: str) -> DataType:
    """The datatype of an ONNX Runtime type string such as ``tensor(float)``."""
    try:
        return _BY_ORT[ort_type]
    except KeyError:
        raise CodecError(f"ONNX Runtime type {ort_type!r} has no protocol datatype", "UNSUPPORTED") from None


def element_count(shape: Sequence[int]) -> int:
    """Product of ``shape``; 1 for a scalar."""
    count = 1
    for dim in shape:
        count *= dim
    return count


def decode_raw(
    dt: DataType, raw: bytes | memoryview, shape: Sequence[int], *, text: bool = False
) -> np.ndarray:
    """Decode one tensor of ``raw_input_contents`` into an array of ``shape``.

    Fixed-size types are a read-only view of ``raw`` (no copy); BOOL bytes
    must be 0 or 1.  BYTES become
    an object array of ``bytes``, or of ``str`` with ``text`` (ONNX string
    tensors are UTF-8 text and ONNX Runtime accepts only ``str``).
    """
    count = element_count(shape)
    if dt.name == "BYTES":
        return _split_bytes(raw, count, text).reshape(shape)
    expected = count * dt.dtype.itemsize
    if len(raw) != expected:
        raise CodecError(
            f"holds {len(raw)} bytes, shape {list(shape)} of {dt.name} needs {expected}",
            "BYTE_SIZE_MISMATCH",
        )
    array = np.frombuffer(raw, dtype=dt.dtype).reshape(shape)
    # NumPy reads any nonzero byte as True, but ONNX Runtime computes on the byte itself (Not(0x02)
    # is 0x03, still true): only 0 and 1 encode a BOOL.
    if dt.name == "BOOL" and count and int(array.view(np.uint8).max()) > 1:
        raise CodecError("holds bytes other than 0 and 1, the only encodings of BOOL", "VALUE_OUT_OF_RANGE")
    return array


def _split_bytes(raw: bytes | memoryview, count: int, text: bool) -> np.ndarray:
    view = memoryview(raw)
    size = len(view)
    # Every element carries a 4-byte length: a shape that claims more elements than that allows is
    # refused before anything the size of the claim is allocated.
    if count * _LENGTH.size > size:
        raise CodecError(
            f"holds {size} bytes, too few for the {count} BYTES elements of shape", "ELEMENT_COUNT_MISMATCH"
        )
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > size:
            raise CodecError(f"holds {i} BYTES elements, shape needs {count}", "ELEMENT_COUNT_MISMATCH")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        end = offset + length
        if end > size:
            raise CodecError(f"element {i} claims {length} bytes past the end of the data", "BYTES_TRUNCATED")
        out[i] = _text(view[offset:end], i) if text else bytes(view[offset:end])
        offset = end
    if offset != size:
        raise CodecError(
            f"holds more than the {count} BYTES elements its shape needs", "ELEMENT_COUNT_MISMATCH"
        )
    return out


def _text(data: memoryview | bytes, index: int) -> str:
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError:
        raise CodecError(f"element {index} is not valid UTF-8 text", "INVALID_UTF8") from None


_NARROW_LIMITS = {
    name: (int(np.iinfo(DATATYPES[name].dtype).min), int(np.iinfo(DATATYPES[name].dtype).max))
    for name in ("UINT8", "UINT16", "INT8", "INT16")
}


def decode_contents(
    dt: DataType, values: Sequence[Any], shape: Sequence[int], *, text: bool = False
) -> np.ndarray:
    """Decode the typed ``contents`` field of one tensor (``values`` is that field).

    The protocol carries INT8/INT16 in ``int_contents`` and UINT8/UINT16 in
    ``uint_contents`` (32-bit); values outside the narrower type are refused
    rather than wrapped.
    """
    if dt.contents_field is None:
        raise CodecError(f"{dt.name} has no typed contents; send it as raw contents", "CONTENTS_UNSUPPORTED")
    count = element_count(shape)
    if len(values) != count:
        raise CodecError(
            f"holds {len(values)} elements, shape {list(shape)} needs {count}", "ELEMENT_COUNT_MISMATCH"
        )
    if dt.name == "BYTES":
        out = np.empty(count, dtype=object)
        for i, value in enumerate(values):
            out[i] = _text(value, i) if text else bytes(value)
        return out.reshape(shape)
    limits = _NARROW_LIMITS.get(dt.name)
    if limits is None:
        return np.asarray(values, dtype=dt.dtype).reshape(shape)
    wide = np.asarray(values, dtype=np.int64)
    if wide.size and (int(wide.min()) < limits[0] or int(wide.max()) > limits[1]):
        raise CodecError(f"values outside the range of {dt.name}", "VALUE_OUT_OF_RANGE")
    return wide.astype(dt.dtype).reshape(shape)


def encode_raw(dt: DataType, array: npt.ArrayLike) -> bytes:
    """Encode an output array as ``raw_output_contents`` bytes (one copy).

    BYTES elements may be ``bytes`` or ``str`` (encoded as UTF-8).  BF16
    takes ``uint16`` bit patterns as they are and rounds anything else via
    float32.
    """
    if dt.name == "BYTES":
        return _join_bytes(np.asarray(array, dtype=object))
    arr = np.asarray(array)
    if dt.name == "BF16":
        return (arr if arr.dtype == np.uint16 else float32_to_bf16(arr)).astype("<u2", copy=False).tobytes()
    return arr.astype(dt.dtype, copy=False).tobytes()


def _join_bytes(arr: np.ndarray) -> bytes:
    parts: list[bytes] = []
    pack = _LENGTH.pack
    for element in arr.flat:
        data = element.encode("utf-8") if isinstance(element, str) else bytes(element)
        parts.append(pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def encode_contents(dt: DataType, array: npt.ArrayLike) -> list[Any]:
    """Flatten an output array into values for ``dt``'s typed ``contents`` field."""
    if dt.contents_field is None:
        raise CodecError(
            f"{dt.name} has no typed contents; encode it as raw contents", "CONTENTS_UNSUPPORTED"
        )
    if dt.name == "BYTES":
        return [e.encode("utf-8") if isinstance(e, str) else bytes(e) for e in np.asarray(array, object).flat]
    values: list[Any] = np.asarray(array).astype(dt.dtype, copy=False).ravel().tolist()
    return values


def bf16_to_float32(bits: npt.ArrayLike) -> np.ndarray:
    """Widen BF16 bit patterns (``uint16``) to float32; exact."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def float32_to_bf16(values: npt.ArrayLike) -> np.ndarray:
    """Round float32 values to BF16 bit patterns, to nearest with ties to even.

    NaN stays a quiet NaN of the same sign (plain rounding could carry a NaN
    payload into the exponent and turn it into infinity).
    """
    f32 = np.asarray(values, dtype=np.float32)
    bits = f32.view(np.uint32)  # same item size: a view whatever the strides
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
    nan = ((bits >> 16) & np.uint32(0x8000)) | np.uint32(0x7FC0)
    return np.where(np.isnan(f32), nan, rounded).astype(np.uint16)
