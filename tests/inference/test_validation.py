"""Request validation: every problem is an INVALID_ARGUMENT naming the tensor and the reason."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from services.inference.errors import InvalidInput, InvalidOutput
from services.inference.signature import Signature, TensorSpec
from services.inference.validation import InputTensor, RequestValidator
from services.runtime.errors import Code

from .support import raw_input

SIGNATURE = Signature(
    inputs=(
        TensorSpec("image", "UINT8", (-1, 2, 2, 3)),
        TensorSpec("mask", "FP32", (-1, 4)),
        TensorSpec("text", "BYTES", (-1, -1)),
    ),
    outputs=(TensorSpec("score", "FP32", (-1, 1)), TensorSpec("label", "BYTES", (-1,))),
)


def _good(batch: int = 2) -> list[InputTensor]:
    return [
        raw_input("image", np.zeros((batch, 2, 2, 3), np.uint8), "UINT8"),
        raw_input("mask", np.ones((batch, 4), np.float32)),
        raw_input("text", np.array([["a", "b", "c"]] * batch, dtype=object), "BYTES"),
    ]


def _replace(inputs: list[InputTensor], tensor: InputTensor) -> list[InputTensor]:
    return [tensor if t.name == tensor.name else t for t in inputs]


@pytest.fixture
def validator() -> RequestValidator:
    return RequestValidator(SIGNATURE, max_batch_size=8)


def test_valid_request_decodes_every_input(validator: RequestValidator) -> None:
    prepared = validator.validate(list(reversed(_good())))
    assert prepared.batch_size == 2
    assert prepared.feeds["image"].shape == (2, 2, 2, 3)
    assert prepared.feeds["text"].tolist() == [["a", "b", "c"]] * 2, "BYTES reach the model as text"
    assert prepared.outputs == ("score", "label")
    assert prepared.key == ((2, 2, 3), (4,), (3,)), "the key follows signature order, not request order"


def test_typed_contents_are_accepted(validator: RequestValidator) -> None:
    inputs = _replace(_good(1), InputTensor("mask", "FP32", [1, 4], contents=[1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(validator.validate(inputs).feeds["mask"], [[1, 2, 3, 4]])


def test_requested_outputs_keep_their_order(validator: RequestValidator) -> None:
    assert validator.validate(_good(), ["label", "score"]).outputs == ("label", "score")


def _bad_cases() -> list[tuple[str, list[InputTensor], str, str]]:
    good = _good()
    image = np.zeros((2, 2, 2, 3), np.uint8)
    return [
        ("unknown", [*good, raw_input("extra", image, "UINT8")], "UNKNOWN_INPUT", "extra"),
        ("dup", [*good, good[1]], "DUPLICATE_INPUT", "mask"),
        ("missing", good[:2], "MISSING_INPUT", "text"),
        ("dtype", _replace(good, raw_input("mask", np.ones((2, 4)), "FP64")), "DATATYPE_MISMATCH", "mask"),
        ("rank", _replace(good, raw_input("mask", np.ones((2, 4, 1), np.float32))), "SHAPE_MISMATCH", "mask"),
        (
            "dim",
            _replace(good, raw_input("image", np.zeros((2, 3, 2, 3), np.uint8), "UINT8")),
            "SHAPE_MISMATCH",
            "image",
        ),
        (
            "negative",
            _replace(good, InputTensor("text", "BYTES", [2, -1], raw=b"")),
            "SHAPE_MISMATCH",
            "text",
        ),
        (
            "batch",
            _replace(good, raw_input("mask", np.ones((3, 4), np.float32))),
            "BATCH_SIZE_MISMATCH",
            "mask",
        ),
        ("big", _good(9), "BATCH_TOO_LARGE", "image"),
        ("empty", _good(0), "SHAPE_MISMATCH", "image"),
        (
            "bytes",
            _replace(good, InputTensor("mask", "FP32", [2, 4], raw=b"\x00" * 31)),
            "BYTE_SIZE_MISMATCH",
            "mask",
        ),
        (
            "count",
            _replace(good, InputTensor("text", "BYTES", [2, 3], raw=struct.pack("<I", 1) + b"a")),
            "ELEMENT_COUNT_MISMATCH",
            "text",
        ),
        (
            "contents",
            _replace(good, InputTensor("mask", "FP32", [2, 4], contents=[1.0])),
            "ELEMENT_COUNT_MISMATCH",
            "mask",
        ),
        ("nodata", _replace(good, InputTensor("mask", "FP32", [2, 4])), "MISSING_DATA", "mask"),
        (
            "both",
            _replace(good, InputTensor("mask", "FP32", [2, 4], raw=b"\x00" * 32, contents=[0.0] * 8)),
            "CONFLICTING_DATA",
            "mask",
        ),
        (
            "range",
            _replace(good, InputTensor("image", "UINT8", [2, 2, 2, 3], contents=[300] * 24)),
            "VALUE_OUT_OF_RANGE",
            "image",
        ),
    ]


@pytest.mark.parametrize(("case", "inputs", "reason", "name"), _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_each_problem_names_the_input(
    validator: RequestValidator, case: str, inputs: list[InputTensor], reason: str, name: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validator.validate(inputs)
    error = caught.value
    assert error.code == Code.INVALID_ARGUMENT
    assert (error.reason, error.field, error.metadata["input"]) == (reason, name, name)
    assert [(v.field, v.reason) for v in error.violations] == [(name, reason)]
    assert repr(name) in error.message


@pytest.mark.parametrize(
    ("outputs", "reason", "name"),
    [(["nope"], "UNKNOWN_OUTPUT", "nope"), (["score", "score"], "DUPLICATE_OUTPUT", "score")],
)
def test_bad_requested_outputs_name_the_output(
    validator: RequestValidator, outputs: list[str], reason: str, name: str
) -> None:
    with pytest.raises(InvalidOutput) as caught:
        validator.validate(_good(), outputs)
    assert (caught.value.reason, caught.value.field) == (reason, name)


def test_without_batching_the_batch_dimension_is_not_capped() -> None:
    assert RequestValidator(SIGNATURE, max_batch_size=1).validate(_good(9)).batch_size == 9


def test_unbatched_signature_checks_static_shape_only() -> None:
    signature = Signature((TensorSpec("x", "INT64", (3,)),), (TensorSpec("y", "INT64", (3,)),))
    validator = RequestValidator(signature, max_batch_size=8)
    prepared = validator.validate([raw_input("x", np.arange(3), "INT64")])
    assert prepared.batch_size == 1
    with pytest.raises(InvalidInput) as caught:
        validator.validate([raw_input("x", np.arange(4), "INT64")])
    assert caught.value.reason == "SHAPE_MISMATCH"


def test_an_empty_tensor_may_not_describe_more_than_the_bound() -> None:
    signature = Signature((TensorSpec("x", "FP32", (-1, -1, -1)),), (TensorSpec("y", "FP32", (-1,)),))
    validator = RequestValidator(signature)
    assert validator.validate([InputTensor("x", "FP32", [1, 0, 2**20], raw=b"")]).feeds["x"].size == 0
    for shape in ([1, 0, 2**62], [2**61 - 1, 0, 0], [0, 2**17, 2**17]):
        with pytest.raises(InvalidInput) as caught:
            validator.validate([InputTensor("x", "FP32", shape, raw=b"")])
        assert (caught.value.reason, caught.value.field) == ("SHAPE_TOO_LARGE", "x")


def test_inputs_sharing_a_symbolic_dimension_must_agree() -> None:
    sequence = ("batch", "tokens")
    signature = Signature(
        (
            TensorSpec("ids", "INT64", (-1, -1), sequence),
            TensorSpec("mask", "INT64", (-1, -1), sequence),
            TensorSpec("extra", "INT64", (-1, -1), ("batch", "other")),
        ),
        (TensorSpec("y", "FP32", (-1,)),),
    )
    validator = RequestValidator(signature, max_batch_size=8)

    def request(ids: int, mask: int, extra: int) -> list[InputTensor]:
        return [
            raw_input("ids", np.zeros((2, ids), np.int64), "INT64"),
            raw_input("mask", np.zeros((2, mask), np.int64), "INT64"),
            raw_input("extra", np.zeros((2, extra), np.int64), "INT64"),
        ]

    assert validator.validate(request(5, 5, 3)).key == ((5,), (5,), (3,))
    with pytest.raises(InvalidInput) as caught:
        validator.validate(request(5, 6, 3))
    assert (caught.value.reason, caught.value.field) == ("SHAPE_MISMATCH", "mask")
    assert "'tokens'" in caught.value.message
    assert "'ids'" in caught.value.message


def test_a_resized_axis_may_not_be_empty() -> None:
    image = TensorSpec("image", "UINT8", (-1, -1, -1, 3), nonempty_axes=(1, 2))
    validator = RequestValidator(Signature((image,), (TensorSpec("y", "FP32", (-1,)),)))
    for shape in ((1, 0, 5, 3), (1, 5, 0, 3)):
        with pytest.raises(InvalidInput) as caught:
            validator.validate([raw_input("image", np.zeros(shape, np.uint8), "UINT8")])
        assert (caught.value.reason, caught.value.field) == ("SHAPE_MISMATCH", "image")


def test_an_unbatched_model_keys_requests_by_their_whole_shapes() -> None:
    signature = Signature((TensorSpec("x", "FP32", (1, -1, -1)),), (TensorSpec("y", "FP32", (1, -1)),))
    validator = RequestValidator(signature, max_batch_size=8)
    small = validator.validate([raw_input("x", np.zeros((1, 2, 2), np.float32))])
    large = validator.validate([raw_input("x", np.zeros((1, 30, 30), np.float32))])
    assert (small.batch_size, small.key) == (1, ((1, 2, 2),))
    assert large.key == ((1, 30, 30),), (
        "a run's cost is learnt per shape, so a large one is not taken as cheap"
    )


def test_bool_raw_bytes_other_than_0_and_1_name_the_input() -> None:
    signature = Signature((TensorSpec("flags", "BOOL", (-1, 2)),), (TensorSpec("y", "BOOL", (-1, 2)),))
    validator = RequestValidator(signature)
    good = validator.validate([InputTensor("flags", "BOOL", [1, 2], raw=b"\x01\x00")])
    assert good.feeds["flags"].tolist() == [[True, False]]
    with pytest.raises(InvalidInput) as caught:
        validator.validate([InputTensor("flags", "BOOL", [1, 2], raw=b"\x01\x02")])
    error = caught.value
    assert (error.code, error.reason, error.field) == (Code.INVALID_ARGUMENT, "VALUE_OUT_OF_RANGE", "flags")
