"""Image preprocessing matches a plain per-pixel reference, on NumPy and (where present) CuPy."""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from services.inference.errors import InvalidInput
from services.inference.pipeline import build_preprocessors
from services.inference.preprocessing import Interpolation, Layout, Preprocessor, PreprocessSpec, preprocess
from services.inference.sessions import cuda_device_count
from services.inference.signature import Signature, TensorSpec
from services.inference.validation import RequestValidator
from tests.inference.support import open_session, raw_input, serialize


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
    elif spec.target_datatype == "FP64":
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)  # float64 all the way
    else:
        assert out.dtype == np.float32
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


def _image_and_mask_signature() -> Signature:
    """A real graph's signature: image [batch,3,height,width] times mask [batch,1,height,width]."""
    model = serialize(
        [helper.make_node("Mul", ["image", "mask"], ["y"])],
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, "height", "width"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
    )
    return open_session(model).signature


def test_a_preprocessed_input_keeps_the_names_of_the_dimensions_it_carries_over() -> None:
    signature = _image_and_mask_signature()
    kept = build_preprocessors(signature, [PreprocessSpec("image", scale=1 / 255)])["image"]
    # Clients send HWC: the model's names move with their dimensions.
    assert kept.client_spec.dim_names == ("batch", "height", "width", "")
    assert kept.client_spec.dim_names == ("batch", *signature.input("mask").dim_names[2:], "")
    resized = build_preprocessors(signature, [PreprocessSpec("image", resize_height=8)])["image"]
    # The client's height is any height now, not the model's: that name no longer applies.
    assert resized.client_spec.dim_names == ("batch", "", "width", "")
    chw = Preprocessor(
        PreprocessSpec("x", source_layout=Layout.CHW, target_layout=Layout.HWC, resize_width=4),
        TensorSpec("x", "FP32", (-1, 4, 3), ("rows", "cols", "")),
    )
    assert chw.client_spec.dim_names == ("", "rows", "")
    assert chw.client_spec.shape == (3, -1, -1)


def test_a_preprocessed_image_and_another_input_must_agree_on_a_shared_dimension() -> None:
    signature = _image_and_mask_signature()
    preprocessors = build_preprocessors(signature, [PreprocessSpec("image", scale=1 / 255)])
    validator = RequestValidator(signature.replace_inputs(p.client_spec for p in preprocessors.values()))
    image = raw_input("image", np.zeros((1, 4, 6, 3), np.uint8), "UINT8")
    fitting = raw_input("mask", np.ones((1, 1, 4, 6), np.float32))
    assert validator.validate([image, fitting]).feeds["image"].shape == (1, 4, 6, 3)
    taller = raw_input("mask", np.ones((1, 1, 5, 6), np.float32))
    with pytest.raises(InvalidInput, match="'height'") as caught:
        validator.validate([image, taller])
    assert caught.value.reason == "SHAPE_MISMATCH"
    assert caught.value.field == "mask"


FP16_MAX = 65504.0


def test_preprocessing_to_fp16_is_refused_when_some_pixel_would_overflow_it() -> None:
    model_input = TensorSpec("x", "FP16", (-1, 3, 4, 4))
    # 255 / 0.003 = 85000 in channel 1: past FP16's 65504, the model would read inf.
    spec = PreprocessSpec("x", means=(0.0, 0.0, 0.0), stds=(1.0, 0.003, 1.0), target_datatype="FP16")
    with pytest.raises(ValueError, match=r"channel 1 .* 85000, past FP16's") as caught:
        Preprocessor(spec, model_input)
    assert "'x'" in str(caught.value)
    assert "stds[1] (0.003)" in str(caught.value)
    # Below, from the mean: (0 - 200) / 0.003.
    low = PreprocessSpec("x", means=(200.0,), stds=(0.003,), target_datatype="FP16")
    with pytest.raises(ValueError, match=r"every channel .* pixel 0 to -66666.7, past FP16's"):
        Preprocessor(low, model_input)


def test_preprocessing_to_fp16_is_accepted_up_to_its_largest_value() -> None:
    model_input = TensorSpec("x", "FP16", (-1, 1, 2, 2))
    edge = Preprocessor(PreprocessSpec("x", stds=(255 / FP16_MAX,), target_datatype="FP16"), model_input)
    out = edge(np, np.array([[[[0], [1]], [[254], [255]]]], np.uint8))
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.ravel(), [0.0, 256.875, 65247.0, FP16_MAX], rtol=1e-3)
    imagenet = PreprocessSpec("x", target_datatype="FP16", **IMAGENET)
    assert Preprocessor(imagenet, TensorSpec("x", "FP16", (-1, 3, 2, 2))).client_spec.shape == (-1, 2, 2, 3)


def test_a_scale_past_float32_is_refused_for_fp32_as_well() -> None:
    with pytest.raises(ValueError, match="FP32"):
        Preprocessor(PreprocessSpec("x", scale=1e39), TensorSpec("x", "FP32", (-1, 3, 4, 4)))


def test_float_images_overflowing_fp16_are_an_invalid_input_naming_it() -> None:
    # Float sources have no static bounds: each batch is checked, and only theirs.
    preprocessor = Preprocessor(
        PreprocessSpec("x", source_datatype="FP32", target_datatype="FP16", stds=(0.5,)),
        TensorSpec("x", "FP16", (-1, 1, 1, 2)),
    )
    fitting = preprocessor(np, np.array([[[[1.0], [-3.0]]]], np.float32))
    assert fitting.dtype == np.float16
    assert fitting.ravel().tolist() == [2.0, -6.0]
    with pytest.raises(InvalidInput, match="FP16") as caught:
        preprocessor(np, np.array([[[[1.0], [40000.0]]]], np.float32))
    assert caught.value.field == "x"
    assert caught.value.reason == "PREPROCESSED_OUT_OF_RANGE"
    # An infinity the client sent is its value to give, not an overflow.
    sent = preprocessor(np, np.array([[[[np.inf], [1.0]]]], np.float32)).ravel()
    assert sent.tolist() == [np.inf, 2.0]
    # ... but only for its own image: a batch holds other clients' images too.
    with pytest.raises(InvalidInput, match="FP16"):
        preprocessor(np, np.array([[[[np.inf], [1.0]]], [[[1.0], [40000.0]]]], np.float32))
    assert preprocessor(np, np.zeros((0, 1, 2, 1), np.float32)).shape == (0, 1, 1, 2)


def test_fp64_targets_are_computed_in_double_precision() -> None:
    big = np.array([[[[2**31 - 1], [-(2**31) + 1]]]], np.int32)
    spec = PreprocessSpec("x", target_layout=Layout.HWC, source_datatype="INT32", target_datatype="FP64")
    assert preprocess(np, big, spec).ravel().tolist() == [2**31 - 1, -(2**31) + 1]
    pixels = np.arange(0, 65536, 257, dtype=np.uint16).reshape(1, 1, -1, 1)
    normalised = PreprocessSpec(
        "x", scale=1 / 65535, means=(0.485,), stds=(0.229,), source_datatype="UINT16", target_datatype="FP64"
    )
    expected = (pixels.astype(np.float64) / 65535 - 0.485) / 0.229
    np.testing.assert_allclose(preprocess(np, pixels, normalised)[0, 0], expected[0, :, :, 0], rtol=1e-13)


def test_a_tiny_scale_beside_a_mean_gives_the_mean_not_infinity() -> None:
    # mean / scale = 5e39 is past float32: subtracting it first would make -inf.
    spec = PreprocessSpec("x", target_layout=Layout.HWC, scale=1e-40, means=(0.5,), stds=(2.0,))
    out = preprocess(np, np.array([[[[0], [255]]]], np.uint8), spec)
    np.testing.assert_allclose(out.ravel(), [-0.25, -0.25], rtol=1e-6)


@pytest.mark.parametrize("how", list(Interpolation))
def test_an_empty_batch_resizes_to_an_empty_batch(how: Interpolation) -> None:
    spec = PreprocessSpec("x", resize_height=3, resize_width=5, interpolation=how, **IMAGENET)
    out = preprocess(np, np.zeros((0, 7, 2, 3), np.uint8), spec)
    assert out.shape == (0, 3, 3, 5)
    assert out.dtype == np.float32


def test_a_non_contiguous_batch_gives_what_its_copy_gives() -> None:
    batch = _images((2, 6, 10, 3))
    view = batch[:, ::2, ::-3, :]  # strided and reversed
    assert not view.flags.c_contiguous
    spec = PreprocessSpec("x", resize_height=5, resize_width=7, **IMAGENET)
    np.testing.assert_array_equal(preprocess(np, view, spec), preprocess(np, view.copy(), spec))
    np.testing.assert_allclose(preprocess(np, view, spec), _reference(view, spec), rtol=1e-5, atol=1e-5)
