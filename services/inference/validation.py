"""Check a request's tensors against a version's signature and decode them.

Validation runs before a request is queued, so a malformed request fails on
its own and never takes its batch neighbours down with it.  The first
problem found is reported as :class:`~.errors.InvalidInput` (or
:class:`~.errors.InvalidOutput`) naming the tensor, with a stable reason:

``UNKNOWN_INPUT``, ``DUPLICATE_INPUT``, ``MISSING_INPUT``, ``DATATYPE_MISMATCH``,
``SHAPE_MISMATCH``, ``BATCH_SIZE_MISMATCH``, ``BATCH_TOO_LARGE``, ``MISSING_DATA``,
``CONFLICTING_DATA``, ``BYTE_SIZE_MISMATCH``, ``ELEMENT_COUNT_MISMATCH``,
``BYTES_TRUNCATED``, ``INVALID_UTF8``, ``VALUE_OUT_OF_RANGE``,
``CONTENTS_UNSUPPORTED``, ``SHAPE_TOO_LARGE``; ``UNKNOWN_OUTPUT``, ``DUPLICATE_OUTPUT``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np

from services.inference.errors import InvalidInput, InvalidOutput
from services.inference.signature import DYNAMIC, Signature
from services.inference.tensors import DATATYPES, CodecError, DataType, decode_contents, decode_raw

__all__ = ["MAX_SHAPE_ELEMENTS", "InputTensor", "PreparedRequest", "RequestValidator"]

MAX_SHAPE_ELEMENTS = 2**32
"""Elements a shape may describe with its empty axes counted as 1.  A tensor with data is bounded by
the message size anyway; this bounds empty ones, whose other axes could otherwise be any size."""


class InputTensor(NamedTuple):
    """One request input as the servicer hands it over, without protobuf types.

    Exactly one of ``raw`` (the matching ``raw_input_contents`` entry, passed
    as is so decoding is a view) and ``contents`` (the one typed
    ``InferTensorContents`` field of the datatype, see
    :attr:`.tensors.DataType.contents_field`) is set.
    """

    name: str
    datatype: str
    shape: Sequence[int]
    raw: bytes | memoryview | None = None
    contents: Sequence[Any] | None = None


class PreparedRequest(NamedTuple):
    """A validated request, ready for the batcher."""

    feeds: dict[str, np.ndarray]
    """Decoded inputs by name."""
    batch_size: int
    """Size of the first dimension for batched models, else 1."""
    key: Hashable
    """Non-batch dimensions of every input (every dimension for an unbatched model): only requests
    with equal keys share a batch."""
    outputs: tuple[str, ...]
    """Outputs to return, in the order asked for (every output when none were named)."""


class _Rule(NamedTuple):
    position: int
    datatype: str
    dt: DataType
    shape: tuple[int, ...]
    nonempty: tuple[int, ...]
    shared: tuple[tuple[int, str], ...]
    """(axis, symbolic name) of the dimensions this input shares with another input."""


class RequestValidator:
    """Validates requests against one signature (the one clients see, after preprocessing).

    ``max_batch_size`` > 1 bounds a request's batch dimension (a larger
    request could never be batched and would take more memory than the
    deployment planned for); 1 or less leaves it to the model.
    """

    def __init__(self, signature: Signature, *, max_batch_size: int = 0) -> None:
        self.signature = signature
        self._batched = signature.batched
        self._max_batch = max_batch_size if max_batch_size > 1 and self._batched else 0
        shared = _shared_dimensions(signature, skip_batch=self._batched)
        self._rules = {
            spec.name: _Rule(
                i,
                spec.datatype,
                DATATYPES[spec.datatype],
                spec.shape,
                spec.nonempty_axes,
                tuple((axis, dim) for axis, dim in enumerate(spec.dim_names) if dim in shared),
            )
            for i, spec in enumerate(signature.inputs)
        }
        self._all_outputs = tuple(spec.name for spec in signature.outputs)
        self._output_names = frozenset(self._all_outputs)

    def validate(self, inputs: Sequence[InputTensor], outputs: Sequence[str] = ()) -> PreparedRequest:
        """Check and decode ``inputs``; ``outputs`` names the outputs wanted (empty: all)."""
        rules = self._rules
        feeds: dict[str, np.ndarray] = {}
        key: list[tuple[int, ...]] = [()] * len(rules)
        sizes: dict[str, tuple[int, str]] = {}
        batch = -1
        for tensor in inputs:
            name = tensor.name
            rule = rules.get(name)
            if rule is None:
                raise InvalidInput(name, "the model has no input of that name", reason="UNKNOWN_INPUT")
            if name in feeds:
                raise InvalidInput(name, "given more than once", reason="DUPLICATE_INPUT")
            if tensor.datatype != rule.datatype:
                raise InvalidInput(
                    name,
                    f"datatype {tensor.datatype}, the model takes {rule.datatype}",
                    reason="DATATYPE_MISMATCH",
                )
            shape = tuple(tensor.shape)
            _check_shape(name, shape, rule)
            if rule.shared:
                _check_shared(name, shape, rule.shared, sizes)
            if self._batched:
                if batch < 0:
                    batch = shape[0]
                    self._check_batch(name, batch)
                elif shape[0] != batch:
                    raise InvalidInput(
                        name,
                        f"batch dimension {shape[0]} differs from the other inputs' {batch}",
                        reason="BATCH_SIZE_MISMATCH",
                    )
                key[rule.position] = shape[1:]
            else:
                key[rule.position] = shape
            feeds[name] = _decode(name, rule.dt, tensor, shape)
        if len(feeds) != len(rules):
            missing = next(name for name in rules if name not in feeds)
            raise InvalidInput(missing, "required by the model but not given", reason="MISSING_INPUT")
        return PreparedRequest(feeds, max(batch, 1), tuple(key), self._outputs(outputs))

    def _check_batch(self, name: str, batch: int) -> None:
        if batch < 1:
            raise InvalidInput(name, "the batch dimension must be at least 1", reason="SHAPE_MISMATCH")
        if self._max_batch and batch > self._max_batch:
            raise InvalidInput(
                name,
                f"batch dimension {batch} exceeds the deployment's max batch size {self._max_batch}",
                reason="BATCH_TOO_LARGE",
            )

    def _outputs(self, requested: Sequence[str]) -> tuple[str, ...]:
        if not requested:
            return self._all_outputs
        names = tuple(requested)
        for i, name in enumerate(names):
            if name not in self._output_names:
                raise InvalidOutput(name, "the model has no output of that name", reason="UNKNOWN_OUTPUT")
            if name in names[:i]:
                raise InvalidOutput(name, "requested more than once", reason="DUPLICATE_OUTPUT")
        return names


def _shared_dimensions(signature: Signature, *, skip_batch: bool) -> frozenset[str]:
    """Symbolic dimension names that occur more than once among the inputs' dynamic dimensions (the
    batch dimension aside when it is checked on its own)."""
    seen: dict[str, int] = {}
    for spec in signature.inputs:
        for axis, dim in enumerate(spec.dim_names):
            if dim and spec.shape[axis] == DYNAMIC and not (skip_batch and axis == 0):
                seen[dim] = seen.get(dim, 0) + 1
    return frozenset(dim for dim, count in seen.items() if count > 1)


def _check_shape(name: str, shape: tuple[int, ...], rule: _Rule) -> None:
    expected = rule.shape
    if len(shape) != len(expected):
        raise InvalidInput(
            name,
            f"shape {list(shape)} has rank {len(shape)}, the model takes {list(expected)}",
            reason="SHAPE_MISMATCH",
        )
    for axis, (got, want) in enumerate(zip(shape, expected, strict=True)):
        if got < 0 or (want != DYNAMIC and got != want):
            raise InvalidInput(
                name, f"dimension {axis} is {got}, the model takes {list(expected)}", reason="SHAPE_MISMATCH"
            )
    for axis in rule.nonempty:
        if shape[axis] == 0:
            raise InvalidInput(
                name, f"dimension {axis} is 0, and the deployment resizes it", reason="SHAPE_MISMATCH"
            )
    if 0 in shape and math.prod(max(dim, 1) for dim in shape) > MAX_SHAPE_ELEMENTS:
        raise InvalidInput(
            name,
            f"shape {list(shape)} describes more than {MAX_SHAPE_ELEMENTS} elements, empty axes aside",
            reason="SHAPE_TOO_LARGE",
        )


def _check_shared(
    name: str, shape: tuple[int, ...], dims: tuple[tuple[int, str], ...], sizes: dict[str, tuple[int, str]]
) -> None:
    for axis, dim in dims:
        size, first = sizes.setdefault(dim, (shape[axis], name))
        if size != shape[axis]:
            raise InvalidInput(
                name,
                f"dimension {axis} ({dim!r}) is {shape[axis]}, but input {first!r} gave {dim!r} {size}",
                reason="SHAPE_MISMATCH",
            )


def _decode(name: str, dt: DataType, tensor: InputTensor, shape: tuple[int, ...]) -> np.ndarray:
    raw, contents = tensor.raw, tensor.contents
    if raw is not None and contents is not None:
        raise InvalidInput(name, "carries both raw and typed contents", reason="CONFLICTING_DATA")
    # ONNX string tensors are UTF-8 text, and ONNX Runtime takes only str.
    text = dt.name == "BYTES"
    try:
        if raw is not None:
            return decode_raw(dt, raw, shape, text=text)
        if contents is not None:
            return decode_contents(dt, contents, shape, text=text)
    except CodecError as error:
        raise InvalidInput(name, str(error), reason=error.reason) from None
    raise InvalidInput(name, "carries no data", reason="MISSING_DATA")
