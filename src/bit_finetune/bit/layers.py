"""Custom Keras layers of the BiT model, registered for safe ``.keras`` serialization."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

STANDARDIZATION_EPSILON = 1e-10


@keras.saving.register_keras_serializable(package="bit_finetune")
class StandardizedConv2D(keras.layers.Layer):
    """Bias-free 2-D convolution with Weight Standardization.

    Before each use, the HWIO kernel is standardised over (H, W, in) to zero mean and unit
    variance (``(k - mean) / sqrt(var + 1e-10)``), in float32 whatever the dtype policy.
    Inputs are zero-padded by ``(kernel_size - 1) // 2`` on every side and the
    convolution is 'valid', the explicit symmetric padding of the official BiT code
    (unlike 'same', which pads strided convolutions asymmetrically).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        kernel_initializer: Any = "he_normal",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @property
    def padding(self) -> int:
        return (self.kernel_size - 1) // 2

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, input_shape[-1], self.filters),
            initializer=self.kernel_initializer,
            autocast=False,
        )

    def call(self, inputs: Any) -> Any:
        kernel = ops.cast(self.kernel, "float32")
        mean, variance = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
        kernel = (kernel - mean) * ops.rsqrt(variance + STANDARDIZATION_EPSILON)
        if self.padding:
            p = self.padding
            inputs = ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        return ops.conv(
            inputs, ops.cast(kernel, inputs.dtype), strides=self.strides, padding="valid"
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        def out(size: int | None) -> int | None:
            if size is None:
                return None
            return (size + 2 * self.padding - self.kernel_size) // self.strides + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="bit_finetune")
class InputScaling(keras.layers.Layer):
    """Maps images in [0, 1] linearly onto ``[low, high]``, the range the backbone expects.

    The configured range is part of the saved model, so whoever loads a classifier can
    read which range its backbone sees (see :func:`bit_finetune.bit.backbone_input_range`).
    """

    def __init__(self, low: float = -1.0, high: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low = float(low)
        self.high = float(high)

    @property
    def value_range(self) -> tuple[float, float]:
        return self.low, self.high

    def call(self, images: Any) -> Any:
        if self.value_range == (0.0, 1.0):
            return images
        return images * (self.high - self.low) + self.low

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "low": self.low, "high": self.high}
