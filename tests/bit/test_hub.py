"""SavedModel (TF Hub) backbones: fine-tuning, input range, errors and saving."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.bit import HubBackbone, backbone_input_range, build_classifier
from bit_finetune.config import ConfigError
from tests.bit.conftest import TinyFeatureExtractor

IMAGES = np.random.default_rng(0).random((4, 32, 32, 3), dtype="float32")
LABELS = np.array([0, 1, 2, 1])


def backbone_kernel(model: keras.Model) -> np.ndarray:
    return model.get_layer("backbone").trainable_weights[0].numpy().copy()


def compiled(model: keras.Model) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.5, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_fine_tuning_updates_the_saved_model_variables(hub_saved_model: Path) -> None:
    model = compiled(build_classifier("R14x0.25", 3, weights=str(hub_saved_model)))
    backbone = model.get_layer("backbone")
    assert isinstance(backbone, HubBackbone)
    assert len(backbone.trainable_weights) == 1
    start = backbone_kernel(model)
    model.train_on_batch(IMAGES, LABELS)
    # The zero head blocks the backbone's gradient on the first step: only the head moves.
    np.testing.assert_array_equal(backbone_kernel(model), start)
    assert np.abs(model.get_layer("head").kernel.numpy()).max() > 0
    model.train_on_batch(IMAGES, LABELS)
    model.train_on_batch(IMAGES, LABELS)
    assert np.abs(backbone_kernel(model) - start).max() > 1e-6


def test_hub_backbone_sees_unit_range_images(hub_saved_model: Path) -> None:
    model = build_classifier("R14x0.25", 3, weights=str(hub_saved_model))
    assert backbone_input_range(model) == (0.0, 1.0)
    features = keras.Model(model.input, model.get_layer("backbone").output)(IMAGES)
    direct = tf.saved_model.load(str(hub_saved_model)).signatures["serving_default"]
    expected = direct(tf.constant(IMAGES))["feature_vector"]
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-6)


def test_native_backbone_sees_symmetric_range_images() -> None:
    model = build_classifier("R14x0.25", 3)
    assert backbone_input_range(model) == (-1.0, 1.0)
    head, backbone = model.get_layer("head"), model.get_layer("backbone")
    head.kernel.assign(np.random.default_rng(1).normal(size=(512, 3)).astype("float32"))
    expected = head(backbone(IMAGES * 2.0 - 1.0))
    np.testing.assert_allclose(model(IMAGES), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(model(IMAGES), head(backbone(IMAGES)), atol=1e-3)


def test_feature_width_must_match_the_architecture(hub_saved_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"training\.model\.architecture: R50x1 has 2048 .* 512"):
        build_classifier("R50x1", 3, weights=str(hub_saved_model))


def test_saved_model_without_signature_is_called_directly(tmp_path: Path) -> None:
    module = TinyFeatureExtractor()
    tf.saved_model.save(module, str(tmp_path), signatures={})
    model = build_classifier("R14x0.25", 2, weights=str(tmp_path))
    assert model.get_layer("backbone").call_endpoint == "__call__"
    assert model(IMAGES).shape == (4, 2)


class TwoOutputs(TinyFeatureExtractor):
    """Features under ``name`` plus a second, smaller output."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.output_name = name

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        features = self.__call__(images)["feature_vector"]
        return {self.output_name: features, "logits": features[:, :10]}


def test_feature_output_is_picked_by_name(tmp_path: Path) -> None:
    module = TwoOutputs("default")
    tf.saved_model.save(module, str(tmp_path / "ok"), signatures={"serving_default": module.serve})
    assert build_classifier("R14x0.25", 2, weights=str(tmp_path / "ok")).output.shape == (None, 2)
    module = TwoOutputs("embedding")
    tf.saved_model.save(module, str(tmp_path / "bad"), signatures={"serving_default": module.serve})
    with pytest.raises(ConfigError, match=r"outputs \['embedding', 'logits'\]"):
        build_classifier("R14x0.25", 2, weights=str(tmp_path / "bad"))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "absent", "not found"),
        (lambda p: p, "neither an .npz file nor a SavedModel directory"),
    ],
)
def test_bad_saved_model_locations(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(ConfigError, match=rf"^training\.model\.weights: .*{match}"):
        build_classifier("R14x0.25", 2, weights=str(make(tmp_path)))


def test_keras_round_trip_needs_unsafe_mode_and_keeps_tuned_weights(
    hub_saved_model: Path, tmp_path: Path
) -> None:
    model = compiled(build_classifier("R14x0.25", 3, weights=str(hub_saved_model)))
    for _ in range(3):
        model.train_on_batch(IMAGES, LABELS)
    path = tmp_path / "classifier.keras"
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path)
    loaded = keras.saving.load_model(path, safe_mode=False)
    np.testing.assert_allclose(loaded(IMAGES), model(IMAGES), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(backbone_kernel(loaded), backbone_kernel(model))
    assert loaded.get_layer("backbone").handle == str(hub_saved_model)
