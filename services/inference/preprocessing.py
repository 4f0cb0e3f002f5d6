"""Image preprocessing of one model input, written once for NumPy and CuPy.

Every function takes the array module ``xp`` (``numpy`` on CPU, ``cupy`` on
GPU) and uses only operations both provide, so a GPU deployment preprocesses
on the device right before the model reads the result there.  CuPy is never
imported here: the session hands its module in.

Steps, on a batch ``[N, H, W, C]`` (or ``[N, C, H, W]``) of any numeric type:
cast to float32 (float64 for an FP64 model, which would otherwise get only
float32's digits), resize, ``(x * scale - mean) / std`` per channel, change
layout, cast to the model's type.  Resize conventions ("half-pixel" centres,
``align_corners=False``; output pixel ``i`` of ``out`` maps to the source
coordinate ``(i + 0.5) * in / out`` measured from the first pixel's left edge):

* bilinear: source position ``(i + 0.5) * in / out - 0.5``, clamped at 0,
  neighbours clamped at the edge: OpenCV ``INTER_LINEAR`` and PyTorch
  ``bilinear``, computed in float instead of OpenCV's fixed point for uint8.
  When upscaling this is also PIL ``BILINEAR``; when downscaling it is not
  (PIL widens its filter to antialias, OpenCV and PyTorch do not);
* nearest: source index ``floor((i + 0.5) * in / out)`` (PIL ``NEAREST``,
  PyTorch ``nearest-exact``, OpenCV ``INTER_NEAREST_EXACT``).

Source indices are computed in exact integer arithmetic, so a centre that
falls exactly on a pixel boundary picks the pixel to its right, as the formula
says, on every device (floating point may round it either way).  Resizing is
separable, one axis after the other in the order whose intermediate array is
smaller, so it is never larger than both the input and the output.  Mean and standard deviation are
applied as ``(x - mean / scale) * (scale / std)``: integer pixel values minus a
representable mean stay exact, where ``x * (scale / std) - mean / std`` would
lose the low digits of large values.

Integer sources are bounded, and resizing only mixes values within those
bounds, so whether every image fits the model's type is decided once, when
:class:`Preprocessor` checks the spec: a spec that makes some pixel overflow
FP16 (or FP32) is refused there, and requests pay nothing.  Float sources
have no such bounds: their batches are checked after preprocessing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from services.inference.errors import InvalidInput
from services.inference.signature import DYNAMIC, TensorSpec
from services.inference.tensors import DATATYPES

__all__ = ["Interpolation", "Layout", "PreprocessSpec", "Preprocessor", "preprocess"]

DeviceArray = Any
"""A ``numpy.ndarray`` or a ``cupy.ndarray``, depending on ``xp``."""

_FLOAT_TARGETS = frozenset({"FP16", "FP32", "FP64"})
_FLOAT_SOURCES = frozenset({"FP16", "FP32", "FP64"})
_SOURCES = frozenset({"UINT8", "UINT16", "INT8", "INT16", "INT32"}) | _FLOAT_SOURCES


class Layout(enum.StrEnum):
    HWC = "HWC"
    """Height, width, channels (as images are decoded)."""
    CHW = "CHW"
    """Channels, height, width (as most vision models take them)."""


class Interpolation(enum.StrEnum):
    NEAREST = "NEAREST"
    BILINEAR = "BILINEAR"


@dataclass(frozen=True)
class PreprocessSpec:
    """A deployment's preprocessing of one input (``PreprocessingConfig`` in the registry).

    The servicer maps the message's unset fields to these defaults (a ``scale``
    of 0 means 1: no message sets a scale that zeroes every value).
    """

    input: str
    """Model input the steps produce."""
    source_layout: Layout = Layout.HWC
    target_layout: Layout = Layout.CHW
    resize_height: int = 0
    """Height to resize to in pixels; 0 keeps it."""
    resize_width: int = 0
    """Width to resize to in pixels; 0 keeps it."""
    interpolation: Interpolation = Interpolation.BILINEAR
    scale: float = 1.0
    """Factor every value is multiplied by first (for example 1/255)."""
    means: tuple[float, ...] = ()
    """Per-channel mean subtracted after scaling: none, one for all channels, or one per channel."""
    stds: tuple[float, ...] = ()
    """Per-channel standard deviation divided by after the mean, same rules as ``means``."""
    target_datatype: str = "FP32"
    """Datatype handed to the model; must be the model input's."""
    source_datatype: str = "UINT8"
    """Datatype clients send."""


def _axes(layout: Layout) -> tuple[int, int, int]:
    """Axes of height, width and channels in a batched array of ``layout``."""
    return (1, 2, 3) if layout == Layout.HWC else (2, 3, 1)


def preprocess(xp: ModuleType, batch: DeviceArray, spec: PreprocessSpec) -> DeviceArray:
    """Apply ``spec`` to ``batch`` (rank 4, batch first, in ``spec.source_layout``)."""
    h_axis, w_axis, c_axis = _axes(spec.source_layout)
    x = batch.astype(xp.float64 if spec.target_datatype == "FP64" else xp.float32)
    steps = [(h_axis, spec.resize_height), (w_axis, spec.resize_width)]
    steps = [(axis, size) for axis, size in steps if size and size != x.shape[axis]]
    if len(steps) == 2 and steps[1][1] * x.shape[steps[0][0]] < steps[0][1] * x.shape[steps[1][0]]:
        steps.reverse()  # the smaller intermediate: out_w * in_h < out_h * in_w
    for axis, size in steps:
        x = _resize_axis(xp, x, axis, size, spec.interpolation)
    x = _normalise(xp, x, c_axis, spec)
    if spec.target_layout != spec.source_layout:
        x = x.transpose((0, 3, 1, 2) if spec.source_layout == Layout.HWC else (0, 2, 3, 1))
    target = DATATYPES[spec.target_datatype].dtype
    return xp.ascontiguousarray(x, dtype=target)


def _resize_axis(xp: ModuleType, x: DeviceArray, axis: int, size: int, how: Interpolation) -> DeviceArray:
    length = x.shape[axis]
    # Source coordinates as fractions of 2 * size: (i + 0.5) * length / size == odd[i] / (2 * size).
    odd = (2 * xp.arange(size, dtype=xp.int64) + 1) * length
    if how == Interpolation.NEAREST:
        return xp.take(x, odd // (2 * size), axis=axis)
    position = xp.maximum(odd - size, 0)  # (i + 0.5) * length / size - 0.5, clamped at 0, times 2 * size
    low = xp.minimum(position // (2 * size), length - 1)
    high = xp.minimum(low + 1, length - 1)
    shape = [1] * x.ndim
    shape[axis] = size
    weight = ((position - low * (2 * size)) / (2 * size)).astype(x.dtype).reshape(shape)
    below = xp.take(x, low, axis=axis)
    return below + (xp.take(x, high, axis=axis) - below) * weight


def _normalise(xp: ModuleType, x: DeviceArray, c_axis: int, spec: PreprocessSpec) -> DeviceArray:
    if not spec.means and not spec.stds:
        return x * x.dtype.type(spec.scale) if spec.scale != 1.0 else x
    channels = x.shape[c_axis]
    means = _per_channel(spec.means, channels, 0.0)
    stds = _per_channel(spec.stds, channels, 1.0)
    shape = [1] * x.ndim
    shape[c_axis] = channels
    factor = xp.asarray([spec.scale / s for s in stds], dtype=x.dtype).reshape(shape)
    largest = float(np.finfo(x.dtype).max)
    shifts = [m / spec.scale for m in means] if spec.scale else []
    if not shifts or any(abs(shift) > largest for shift in shifts):
        # A scale of 0, or one so small that mean / scale is past the working type (inf - inf, or
        # inf * 0, is NaN): the mean after scaling; the pixels' share is lost to rounding there anyway.
        offset = [-m / s for m, s in zip(means, stds, strict=True)]
        return x * factor + xp.asarray(offset, dtype=x.dtype).reshape(shape)
    # (x * scale - mean) / std == (x - mean / scale) * (scale / std): the subtraction first keeps
    # integer pixels exact near a large mean.
    return (x - xp.asarray(shifts, dtype=x.dtype).reshape(shape)) * factor


def _per_channel(values: tuple[float, ...], channels: int, default: float) -> tuple[float, ...]:
    if not values:
        return (default,) * channels
    return values * channels if len(values) == 1 else values


class Preprocessor:
    """``spec`` checked against the model input it feeds, with the tensor clients send.

    Raises ``ValueError`` with a message fit for a load condition when the
    spec cannot feed ``model_input``.
    """

    def __init__(self, spec: PreprocessSpec, model_input: TensorSpec) -> None:
        self.spec = spec
        self.unbatched = model_input.rank == 3
        if model_input.rank not in (3, 4):
            raise ValueError(f"input {spec.input!r} has rank {model_input.rank}; preprocessing needs 3 or 4")
        if spec.target_datatype != model_input.datatype:
            made = spec.target_datatype
            raise ValueError(f"input {spec.input!r} takes {model_input.datatype}, preprocessing makes {made}")
        if spec.target_datatype not in _FLOAT_TARGETS or spec.source_datatype not in _SOURCES:
            raise ValueError(
                f"preprocessing converts numeric images to FP16/FP32/FP64, not "
                f"{spec.source_datatype} to {spec.target_datatype}"
            )
        dims = model_input.shape if not self.unbatched else (1, *model_input.shape)
        h_axis, w_axis, c_axis = _axes(spec.target_layout)
        channels = dims[c_axis]
        for name, values in (("means", spec.means), ("stds", spec.stds)):
            if len(values) > 1 and channels not in (DYNAMIC, len(values)):
                raise ValueError(f"{len(values)} {name} for {channels} channels of input {spec.input!r}")
            if len(values) > 1:
                channels = len(values)
        if any(s == 0 for s in spec.stds):
            raise ValueError("a standard deviation of 0")
        self._largest = float(np.finfo(DATATYPES[spec.target_datatype].dtype).max)
        self._unbounded = spec.source_datatype in _FLOAT_SOURCES
        if not self._unbounded:
            self._check_range()
        height = self._source_dim(dims[h_axis], spec.resize_height, "height")
        width = self._source_dim(dims[w_axis], spec.resize_width, "width")
        src_h, src_w, src_c = _axes(spec.source_layout)
        client = [dims[0], 0, 0, 0]
        client[src_h], client[src_w], client[src_c] = height, width, channels
        shape = tuple(client) if not self.unbatched else tuple(client[1:])
        resized = [axis for axis, size in ((src_h, spec.resize_height), (src_w, spec.resize_width)) if size]
        # An empty image has nothing to resize from.
        nonempty = tuple(axis - 1 if self.unbatched else axis for axis in resized)
        self.client_spec = TensorSpec(
            spec.input, spec.source_datatype, shape, self._client_names(model_input), nonempty
        )
        """The tensor clients send instead of the model input."""

    def _client_names(self, model_input: TensorSpec) -> tuple[str, ...]:
        """The model's symbolic dimension names, moved to where the client's layout puts them.

        A resized dimension loses its name: the client's size is any size, not the model's, so it
        must not be held equal to other inputs' dimensions of that name.
        """
        if not model_input.dim_names:
            return ()
        spec = self.spec
        names = ("", *model_input.dim_names) if self.unbatched else model_input.dim_names
        h_axis, w_axis, c_axis = _axes(spec.target_layout)
        src_h, src_w, src_c = _axes(spec.source_layout)
        client = [names[0], "", "", ""]
        client[src_h] = "" if spec.resize_height else names[h_axis]
        client[src_w] = "" if spec.resize_width else names[w_axis]
        client[src_c] = names[c_axis]
        kept = tuple(client[1:]) if self.unbatched else tuple(client)
        return kept if any(kept) else ()

    def _check_range(self) -> None:
        """Refuse a spec that makes some pixel of the integer source overflow the model's type.

        ``(x * scale - mean) / std`` is monotonic in ``x`` and resizing stays within the pixels'
        bounds, so the type's two extremes are the only pixels that can reach furthest.
        """
        spec = self.spec
        bounds = np.iinfo(DATATYPES[spec.source_datatype].dtype)
        count = max(len(spec.means), len(spec.stds), 1)
        means = _per_channel(spec.means, count, 0.0)
        stds = _per_channel(spec.stds, count, 1.0)
        for channel, (mean, std) in enumerate(zip(means, stds, strict=True)):
            for pixel in (int(bounds.min), int(bounds.max)):
                value = (pixel * spec.scale - mean) / std
                if abs(value) <= self._largest:
                    continue
                fields = [f"scale ({spec.scale:g})"]
                fields += [
                    f"{name}[{channel if len(values) > 1 else 0}] ({values[channel]:g})"
                    for name, values, given in (("means", means, spec.means), ("stds", stds, spec.stds))
                    if given
                ]
                where = f"channel {channel}" if count > 1 else "every channel"
                raise ValueError(
                    f"input {spec.input!r}: {where} preprocesses {spec.source_datatype} pixel {pixel} "
                    f"to {value:g}, past {spec.target_datatype}'s largest magnitude {self._largest:g}; "
                    f"{', '.join(fields)} must keep every pixel within it"
                )

    def _source_dim(self, model_dim: int, resize: int, what: str) -> int:
        if not resize:
            return model_dim
        if model_dim not in (DYNAMIC, resize):
            raise ValueError(f"resize {what} {resize} differs from input {self.spec.input!r}'s {model_dim}")
        return DYNAMIC

    def __call__(self, xp: ModuleType, batch: DeviceArray) -> DeviceArray:
        """``batch`` preprocessed; :class:`InvalidInput` when float images overflow the model's type."""
        if not self._unbounded:
            return self._run(xp, batch)
        with np.errstate(over="ignore"):  # an overflow is reported below, as the client's error
            out = self._run(xp, batch)
        if bool(self._overflowed(xp, batch, out).any()):
            spec = self.spec
            raise InvalidInput(
                spec.input,
                f"preprocessing (scale {spec.scale:g}, means {list(spec.means)}, stds {list(spec.stds)}) "
                f"takes values past {spec.target_datatype}'s largest magnitude {self._largest:g}",
                reason="PREPROCESSED_OUT_OF_RANGE",
            )
        return out

    def _overflowed(self, xp: ModuleType, batch: DeviceArray, out: DeviceArray) -> DeviceArray:
        """Per image, whether preprocessing made an infinity that the client did not send.

        An infinity the client sent is a value it chose.  Images are judged one by one because
        a batch holds several clients' images: one client's infinity must not hide another's overflow.
        """
        if self.unbatched:
            batch, out = batch[None], out[None]
        made = xp.isinf(out).any(axis=tuple(range(1, out.ndim)))
        sent = xp.isinf(batch).any(axis=tuple(range(1, batch.ndim)))
        return made & ~sent

    def _run(self, xp: ModuleType, batch: DeviceArray) -> DeviceArray:
        if self.unbatched:
            return preprocess(xp, batch[None], self.spec)[0]
        return preprocess(xp, batch, self.spec)
