"""Fixtures for the model package: tiny TF2 SavedModels standing in for TF Hub backbones."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.bit.npz import weight_keys

HUB_FEATURES = 512  # the feature width of R14x0.25


class TinyFeatureExtractor(tf.Module):
    """Conv + ReLU + global average pool: images [B, H, W, 3] in [0, 1] -> [B, 512]."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel = tf.Variable(
            tf.random.stateless_normal([3, 3, 3, HUB_FEATURES], seed=[1, 2], stddev=0.5),
            name="conv/kernel",
        )

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.nn.relu(tf.nn.conv2d(images - 0.5, self.kernel, 2, "SAME"))
        return {"feature_vector": tf.reduce_mean(x, axis=[1, 2])}


@pytest.fixture(scope="module")
def hub_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel directory with a ``serving_default`` signature (never modified)."""
    module = TinyFeatureExtractor()
    path = tmp_path_factory.mktemp("hub") / "hub_backbone"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


class OfficialBiT(tf.Module):
    """A native backbone laid out like the TF Hub BiT modules (a Reusable SavedModel).

    ``variables`` lists tf.Variables named with the official keys
    (``resnet/block1/unit01/a/standardized_conv2d/kernel:0``); ``__call__`` maps images in
    [0, 1] to features, rescaling them to [-1, 1] itself.
    """

    variables = ()  # saved as a plain attribute, as in Hub modules, not tf.Module's property

    def __init__(self, backbone: keras.Model) -> None:
        super().__init__()
        keys = weight_keys(backbone)
        self.variables = [tf.Variable(v.numpy(), name=key) for key, v in keys.items()]
        official = dict(zip(keys, self.variables, strict=True))
        key_of = {id(v): key for key, v in keys.items()}
        values = [official[key_of[id(v)]] for v in backbone.trainable_variables]

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def features(images: tf.Tensor) -> tf.Tensor:
            return backbone.stateless_call(values, [], images * 2.0 - 1.0)[0]

        self.__call__ = features


def save_official_bit(architecture: str, path: Path) -> None:
    """Save an :class:`OfficialBiT` of a randomly weighted ``architecture`` at ``path``."""
    backbone = build_backbone(architecture)
    rng = np.random.default_rng(0)
    for variable in backbone.weights:
        variable.assign(rng.normal(0.1, 0.5, size=variable.shape).astype("float32"))
    tf.saved_model.save(OfficialBiT(backbone), str(path), signatures={})
