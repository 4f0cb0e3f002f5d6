"""Image preprocessing matches a plain per-pixel reference, on NumPy and (where present) CuPy."""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from services.inference.preprocessing import Interpolation, Layout, Preprocessor, PreprocessSpec, preprocess
from services.inference.sessions import cuda_device_count
from services.inference.signature import TensorSpec


def _reference_resize(image: np.ndarray, out_h: int, out_w: int, how: Interpolation) -> np.ndarray:
    """One HWC image, pixel by pixel, in float64."""
    in_h, in_w, channels = image.shape
    out = np.zeros((out_h, out_w, channels))
    for i in range(out_h):
        for j in range(out_w):
            if how == Interpolation.NEAREST:
                y = min(math.floor((i + 0.5) * in_h / out_h), in_h - 1)
                x = min(math.floor((j + 0.5) * in_w / out_w), in_w - 1)
                out[i, j] = image[y, x]
                continue
            sy = max((i + 0.5) * in_h / out_h - 0.5, 0.0)
            sx = max((j + 0.5) * in_w / out_w - 0.5, 0.0)
            y0, x0 = min(math.floor(sy), in_h - 1), min(math.floor(sx), in_w - 1)
            y1, x1 = min(y0 + 1, in_h - 1), min(x0 + 1, in_w - 1)
            fy, fx = sy - y0, sx - x0
            for c in range(channels):
                top = (1 - fx) * image[y0, x0, c] + fx * image[y0, x1, c]
                bottom = (1 - fx) * image[y1, x0, c] + fx * image[y1, x1, c]
                out[i, j, c] = (1 - fy) * top + fy * bottom
    return out


def _reference(batch: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    results = []
    for image in batch.astype(np.float64):
        hwc = image if spec.source_layout == Layout.HWC else image.transpose(1, 2, 0)
        out_h = spec.resize_height or hwc.shape[0]
        out_w = spec.resize_width or hwc.shape[1]
        resized = _reference_resize(hwc, out_h, out_w, spec.interpolation)
        channels = resized.shape[2]
        for c in range(channels):
            mean = spec.means[c if len(spec.means) > 1 else 0] if spec.means else 0.0
            std = spec.stds[c if len(spec.stds) > 1 else 0] if spec.stds else 1.0
            resized[:, :, c] = (resized[:, :, c] * spec.scale - mean) / std
        results.append(resized if spec.target_layout == Layout.HWC else resized.transpose(2, 0, 1))
    return np.stack(results)


IMAGENET: dict[str, Any] = {"scale": 1 / 255, "means": (0.485, 0.456, 0.406), "stds": (0.229, 0.224, 0.225)}

CASES = {
    "bilinear-up-hwc-to-chw": (
        PreprocessSpec("x", resize_height=7, resize_width=9, **IMAGENET),
        (2, 3, 4, 3),
    ),
    "bilinear-down-odd-ratio": (
        PreprocessSpec("x", resize_height=3, resize_width=4, **IMAGENET),
        (3, 5, 7, 3),
    ),
    "nearest-down": (
        PreprocessSpec("x", resize_height=2, resize_width=3, interpolation=Interpolation.NEAREST),
        (2, 5, 7, 3),
    ),
    "nearest-up": (
        PreprocessSpec("x", resize_height=5, resize_width=4, interpolation=Interpolation.NEAREST, scale=0.5),
        (1, 2, 3, 1),
    ),
    "keep-hwc-one-mean": (
        PreprocessSpec("x", target_layout=Layout.HWC, resize_width=6, means=(127.5,), stds=(127.5,)),
        (2, 4, 3, 3),
    ),
    "chw-source-no-resize": (
        PreprocessSpec("x", source_layout=Layout.CHW, scale=1 / 255, means=(0.5, 0.25), stds=(0.5, 2.0)),
        (2, 2, 3, 5),
    ),
    "fp16-target": (
        PreprocessSpec("x", resize_height=6, resize_width=6, target_datatype="FP16", **IMAGENET),
        (1, 4, 4, 3),
    ),
    "four-channels-batch-of-four-fp64": (
        PreprocessSpec(
            "x",
            resize_height=5,
            resize_width=3,
            scale=1 / 255,
            means=(0.1, 0.2, 0.3, 0.4),
            stds=(0.5, 0.6, 0.7, 0.8),
            target_datatype="FP64",
        ),
        (4, 6, 2, 4),
    ),
    "nearest-centres-on-pixel-boundaries": (  # 2 -> 49 rows and 32 -> 15 columns hit exact boundaries
        PreprocessSpec(
            "x",
            source_layout=Layout.CHW,
            target_layout=Layout.HWC,
            resize_height=49,
            resize_width=15,
            interpolation=Interpolation.NEAREST,
        ),
        (3, 1, 2, 32),
    ),
}


def _images(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(11).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_reference_on_numpy(case: str) -> None:
    spec, shape = CASES[case]
    batch = _images(shape)
    out = preprocess(np, batch, spec)
    expected = _reference(batch, spec)
    assert out.shape == expected.shape
    assert out.flags.c_contiguous
    if spec.target_datatype == "FP16":
        assert out.dtype == np.float16
        np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)  # float16 keeps ~3 digits
    else:
        assert out.dtype == (np.float64 if spec.target_datatype == "FP64" else np.float32)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_bilinear_halving_averages_each_two_by_two_block() -> None:
    batch = _images((1, 4, 6, 2))
    out = preprocess(
        np, batch, PreprocessSpec("x", target_layout=Layout.HWC, resize_height=2, resize_width=3)
    )
    blocks = batch.astype(np.float64).reshape(1, 2, 2, 3, 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(out, blocks, rtol=1e-6)


def test_nearest_doubling_repeats_pixels() -> None:
    batch = _images((1, 2, 3, 3))
    spec = PreprocessSpec(
        "x", target_layout=Layout.HWC, resize_height=4, resize_width=6, interpolation=Interpolation.NEAREST
    )
    np.testing.assert_array_equal(preprocess(np, batch, spec), batch.repeat(2, axis=1).repeat(2, axis=2))


def test_preprocessor_derives_what_clients_send() -> None:
    model_input = TensorSpec("x", "FP32", (-1, 3, 8, 8))
    resized = Preprocessor(PreprocessSpec("x", resize_height=8, resize_width=8, **IMAGENET), model_input)
    assert resized.client_spec == TensorSpec("x", "UINT8", (-1, -1, -1, 3), nonempty_axes=(1, 2))
    kept = Preprocessor(PreprocessSpec("x"), model_input)
    assert kept.client_spec == TensorSpec("x", "UINT8", (-1, 8, 8, 3))
    unbatched = Preprocessor(PreprocessSpec("x", resize_width=8), TensorSpec("x", "FP32", (3, 8, 8)))
    assert unbatched.client_spec == TensorSpec("x", "UINT8", (8, -1, 3), nonempty_axes=(1,))
    out = unbatched(np, _images((8, 5, 3)))
    assert out.shape == (3, 8, 8)


@pytest.mark.parametrize(
    ("spec", "model_input", "problem"),
    [
        (
            PreprocessSpec("x", means=(1.0, 2.0)),
            TensorSpec("x", "FP32", (-1, 3, 4, 4)),
            "2 means for 3 channels",
        ),
        (PreprocessSpec("x"), TensorSpec("x", "FP16", (-1, 3, 4, 4)), "takes FP16"),
        (PreprocessSpec("x", resize_height=5), TensorSpec("x", "FP32", (-1, 3, 4, 4)), "resize height 5"),
        (PreprocessSpec("x"), TensorSpec("x", "FP32", (-1, 4)), "rank 2"),
        (PreprocessSpec("x", stds=(0.0,)), TensorSpec("x", "FP32", (-1, 3, 4, 4)), "deviation of 0"),
    ],
)
def test_preprocessor_refuses_specs_that_cannot_feed_the_input(
    spec: PreprocessSpec, model_input: TensorSpec, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Preprocessor(spec, model_input)


def _cupy() -> ModuleType:
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        pytest.skip("CuPy is not installed (CPU-only environment)")
    if cuda_device_count() == 0:
        pytest.skip("CuPy finds no CUDA device")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("case", list(CASES))
def test_cupy_matches_numpy(case: str) -> None:
    cupy = _cupy()
    spec, shape = CASES[case]
    batch = _images(shape)
    on_device = preprocess(cupy, cupy.asarray(batch), spec)
    assert isinstance(on_device, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(on_device), preprocess(np, batch, spec), rtol=1e-5, atol=1e-5)
