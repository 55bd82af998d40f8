"""Weight-standardised convolution, input scaling and mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.bit.layers import InputScaling, StandardizedConv2D


def reference_conv(images: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """Standardise the HWIO kernel over (H, W, in) in NumPy, pad symmetrically, convolve."""
    mean = kernel.mean(axis=(0, 1, 2), keepdims=True)
    var = kernel.var(axis=(0, 1, 2), keepdims=True)
    standardized = (kernel - mean) / np.sqrt(var + 1e-10)
    pad = (kernel.shape[0] - 1) // 2
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    return tf.nn.conv2d(padded, standardized, stride, "VALID").numpy()


@pytest.mark.parametrize(("kernel_size", "stride"), [(7, 2), (3, 2), (3, 1), (1, 1)])
def test_standardized_conv_matches_reference(kernel_size: int, stride: int) -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 11, 11, 4)).astype("float32")
    layer = StandardizedConv2D(6, kernel_size, strides=stride)
    out = layer(images)
    kernel = layer.kernel.numpy()
    np.testing.assert_allclose(out, reference_conv(images, kernel, stride), rtol=1e-4, atol=1e-4)
    assert layer.compute_output_shape((2, 11, 11, 4)) == out.shape


def test_standardized_conv_ignores_kernel_scale_and_offset() -> None:
    rng = np.random.default_rng(1)
    images = rng.normal(size=(1, 8, 8, 3)).astype("float32")
    layer = StandardizedConv2D(5, 3)
    before = layer(images).numpy()
    shift = rng.normal(size=(1, 1, 1, 5)).astype("float32")
    layer.kernel.assign(layer.kernel * 7.0 + shift)
    np.testing.assert_allclose(layer(images), before, rtol=1e-3, atol=1e-3)
    assert [w.name for w in layer.weights] == ["kernel"]  # no bias


def test_input_scaling_maps_unit_interval() -> None:
    images = np.array([[0.0, 0.25, 1.0]], "float32")
    np.testing.assert_allclose(InputScaling(-1.0, 1.0)(images), [[-1.0, -0.5, 1.0]])
    np.testing.assert_allclose(InputScaling(0.0, 1.0)(images), images)
    config = InputScaling(-1.0, 1.0, name="input_scaling").get_config()
    assert InputScaling.from_config(config).value_range == (-1.0, 1.0)


def test_mixed_precision_keeps_float32_weights_and_logits() -> None:
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_classifier("R14x0.25", 4)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    conv = model.get_layer("backbone").get_layer("block1_unit01_b_conv")
    assert conv.compute_dtype == "bfloat16"
    assert conv.kernel.dtype == "float32"
    assert model.get_layer("head").compute_dtype == "float32"  # the head stays float32
    model.get_layer("head").kernel.assign(np.full((512, 4), 0.01, "float32"))
    logits = model(np.random.default_rng(2).random((2, 64, 64, 3), dtype="float32"))
    assert logits.dtype == "float32"
    assert np.isfinite(logits.numpy()).all() and np.abs(logits.numpy()).max() > 0
