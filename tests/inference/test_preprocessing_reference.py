"""Resizing and normalisation checked against Pillow and exact arithmetic, beyond the plain reference."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from PIL import Image

from services.inference.preprocessing import Interpolation, Layout, PreprocessSpec, preprocess


def _resize_hwc(image: np.ndarray, height: int, width: int, how: Interpolation) -> np.ndarray:
    """One ``[H, W]`` image through ``preprocess``, as float32 ``[height, width]``."""
    spec = PreprocessSpec(
        "x", target_layout=Layout.HWC, resize_height=height, resize_width=width, interpolation=how
    )
    out: np.ndarray = preprocess(np, image[None, :, :, None], spec)[0, :, :, 0]
    return out


def _pillow(image: np.ndarray, height: int, width: int, how: Interpolation) -> np.ndarray:
    """Pillow's resize of a float ("F") image: a reference independent of this code base."""
    resample = Image.Resampling.NEAREST if how == Interpolation.NEAREST else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize((width, height), resample))


def _images(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize(
    ("in_size", "out_size"),
    [((3, 4), (7, 9)), ((5, 2), (11, 13)), ((1, 6), (4, 17)), ((8, 8), (8, 24)), ((2, 3), (3, 5))],
)
def test_bilinear_upscaling_matches_pillow(in_size: tuple[int, int], out_size: tuple[int, int]) -> None:
    # Pillow only agrees when upscaling: downscaling, it widens the filter to antialias.
    image = _images(in_size)
    expected = _pillow(image, *out_size, Interpolation.BILINEAR)
    np.testing.assert_allclose(
        _resize_hwc(image, *out_size, Interpolation.BILINEAR), expected, rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize(
    ("in_size", "out_size"),
    [((3, 4), (7, 9)), ((7, 9), (3, 4)), ((5, 2), (11, 13)), ((10, 10), (3, 7)), ((1, 5), (6, 2))],
)
def test_nearest_matches_pillow_off_pixel_boundaries(
    in_size: tuple[int, int], out_size: tuple[int, int]
) -> None:
    image = _images(in_size)
    expected = _pillow(image, *out_size, Interpolation.NEAREST)
    np.testing.assert_array_equal(_resize_hwc(image, *out_size, Interpolation.NEAREST), expected)


def _exact_nearest(length: int, size: int) -> list[int]:
    """``floor((i + 0.5) * length / size)`` in integers: the documented rule, no rounding."""
    return [(2 * i + 1) * length // (2 * size) for i in range(size)]


@pytest.mark.parametrize(("length", "size"), [(2, 49), (32, 15), (2, 103), (10, 2)])
def test_nearest_takes_the_right_pixel_where_a_centre_falls_on_a_boundary(length: int, size: int) -> None:
    # Centre of output column 24 of 49 from 2 columns is (24.5 * 2 / 49) = 1 exactly: column 1.
    # Floating point puts it at 0.999...; Pillow's float arithmetic does the same for 32 -> 15.
    row = np.arange(length, dtype=np.uint8)[None, :]
    column = row.T
    assert _resize_hwc(row, 1, size, Interpolation.NEAREST)[0].tolist() == _exact_nearest(length, size)
    assert _resize_hwc(column, size, 1, Interpolation.NEAREST)[:, 0].tolist() == _exact_nearest(length, size)


def test_nearest_follows_the_documented_rule_for_every_small_size() -> None:
    for length in range(1, 49):
        row = np.arange(length, dtype=np.uint8)[None, :]
        for size in range(1, 97):
            got = _resize_hwc(row, 1, size, Interpolation.NEAREST)[0].tolist()
            assert got == _exact_nearest(length, size), (length, size)


def test_normalisation_keeps_large_means_exact() -> None:
    # A 16-bit image centred on its mid value: (x - 32768) / 10 to 1e-5, which
    # x * 0.1 - 3276.8 in float32 misses by up to 2e-4.
    batch = np.random.default_rng(3).integers(0, 65536, (2, 16, 16, 1), dtype=np.uint16)
    spec = PreprocessSpec("x", means=(32768.0,), stds=(10.0,), source_datatype="UINT16")
    expected = ((batch.astype(np.float64) - 32768.0) / 10.0).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(preprocess(np, batch, spec), expected, rtol=1e-5, atol=1e-5)


def _recording_numpy(sizes: list[int]) -> types.ModuleType:
    """NumPy, except that ``take`` (each resize step) records how many elements it makes."""
    module = types.ModuleType("recording_numpy")
    module.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})

    def take(array: np.ndarray, indices: Any, axis: int) -> np.ndarray:
        out: np.ndarray = np.take(array, indices, axis=axis)
        sizes.append(out.size)
        return out

    module.__dict__["take"] = take
    return module


@pytest.mark.parametrize("how", list(Interpolation))
def test_resize_never_makes_an_intermediate_larger_than_input_and_output(how: Interpolation) -> None:
    # A wide strip to a tall narrow image: height first would make 300 x 600 pixels.
    batch = _images((1, 2, 600, 1))
    spec = PreprocessSpec("x", resize_height=300, resize_width=3, interpolation=how)
    sizes: list[int] = []
    out = preprocess(_recording_numpy(sizes), batch, spec)
    assert out.shape == (1, 1, 300, 3)
    assert sizes
    assert max(sizes) <= max(batch.size, out.size)
    np.testing.assert_array_equal(out, preprocess(np, batch, spec))
