"""The BiT backbone: ResNet-v2 with Group Norm and Weight Standardization, as a functional
Keras model from images in [-1, 1] to pooled pre-logit features.

Layer names encode the official weight layout (``/`` is not allowed in Keras names), e.g.
``block1_unit01_a_conv`` holds ``resnet/block1/unit01/a/standardized_conv2d/kernel``;
:mod:`bit_finetune.bit.npz` maps between the two.
"""

from __future__ import annotations

from typing import Any

import keras

from bit_finetune.bit.layers import StandardizedConv2D
from bit_finetune.core.architectures import STAGE_STRIDES, Architecture, get_architecture

GROUP_NORM_EPSILON = 1e-5


def build_backbone(architecture: str | Architecture, name: str = "backbone") -> keras.Model:
    """Build the backbone: images [B, H, W, 3] in [-1, 1] of any size -> features [B, F].

    Root: 7x7/2 conv (zero padding 3), zero padding 1, 3x3/2 max-pool ('valid'), as in the
    official TF2 and PyTorch releases. Then four stages of pre-activation bottleneck units
    and a pre-head GN + ReLU + global average pool.
    """
    arch = get_architecture(architecture)
    images = keras.Input(shape=(None, None, 3), name="images")
    x = StandardizedConv2D(arch.root_filters, 7, strides=2, name="root_conv")(images)
    x = keras.layers.ZeroPadding2D(1, name="root_pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="root_pool")(x)
    for stage, (units, stride) in enumerate(zip(arch.units, STAGE_STRIDES, strict=True)):
        for unit in range(units):
            x = _bottleneck_unit(
                x,
                filters=arch.bottleneck_filters(stage),
                stride=stride if unit == 0 else 1,
                groups=arch.groups,
                prefix=f"block{stage + 1}_unit{unit + 1:02d}",
            )
    x = _group_norm(arch.groups, "pre_head_gn")(x)
    x = keras.layers.ReLU(name="pre_head_relu")(x)
    features = keras.layers.GlobalAveragePooling2D(name="pre_head_pool")(x)
    return keras.Model(images, features, name=name)


def _group_norm(groups: int, name: str) -> keras.layers.GroupNormalization:
    return keras.layers.GroupNormalization(groups=groups, epsilon=GROUP_NORM_EPSILON, name=name)


def _bottleneck_unit(x: Any, filters: int, stride: int, groups: int, prefix: str) -> Any:
    """Pre-activation bottleneck: GN+ReLU (shared with the projection) -> 1x1 -> 3x3 -> 1x1."""
    out_channels = 4 * filters
    preact = _group_norm(groups, f"{prefix}_a_gn")(x)
    preact = keras.layers.ReLU(name=f"{prefix}_a_relu")(preact)
    shortcut = x
    if stride > 1 or x.shape[-1] != out_channels:
        shortcut = StandardizedConv2D(out_channels, 1, strides=stride, name=f"{prefix}_a_proj")(
            preact
        )
    y = StandardizedConv2D(filters, 1, name=f"{prefix}_a_conv")(preact)
    y = _group_norm(groups, f"{prefix}_b_gn")(y)
    y = keras.layers.ReLU(name=f"{prefix}_b_relu")(y)
    y = StandardizedConv2D(filters, 3, strides=stride, name=f"{prefix}_b_conv")(y)
    y = _group_norm(groups, f"{prefix}_c_gn")(y)
    y = keras.layers.ReLU(name=f"{prefix}_c_relu")(y)
    y = StandardizedConv2D(out_channels, 1, name=f"{prefix}_c_conv")(y)
    return keras.layers.Add(name=f"{prefix}_add")([shortcut, y])
