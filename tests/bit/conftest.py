"""Fixtures for the model package: a tiny TF2 SavedModel standing in for a TF Hub backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

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
