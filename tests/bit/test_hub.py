"""SavedModel (TF Hub) backbones: official BiT SavedModels loaded natively, other
SavedModels through TFSMLayer (fine-tuning, input range, saving), and errors."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.bit.classifier import backbone_input_range, build_classifier
from bit_finetune.bit.hub import HubBackbone
from bit_finetune.errors import ModelError
from tests.bit.conftest import TinyFeatureExtractor, save_official_bit

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


def logged_build(saved_model: Path, caplog: pytest.LogCaptureFixture) -> keras.Model:
    """An R14x0.25 classifier on ``saved_model``, with the hub module's INFO lines captured."""
    with caplog.at_level(logging.INFO, logger="bit_finetune.bit.hub"):
        return build_classifier("R14x0.25", 3, weights=str(saved_model))


@pytest.fixture(scope="module")
def official_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An R14x0.25 SavedModel laid out like the TF Hub BiT modules (never modified)."""
    path = tmp_path_factory.mktemp("official") / "bit_r14x0.25"
    save_official_bit("R14x0.25", path)
    return path


def test_official_bit_saved_model_gives_a_native_classifier(
    official_saved_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = logged_build(official_saved_model, caplog)
    assert "loaded into a native R14x0.25 backbone" in caplog.text
    backbone = model.get_layer("backbone")
    assert not isinstance(backbone, HubBackbone)
    assert backbone.get_layer("root_conv").kernel.shape == (7, 7, 3, 16)
    assert backbone_input_range(model) == (-1.0, 1.0)
    features = backbone(model.get_layer("input_scaling")(IMAGES))
    expected = tf.saved_model.load(str(official_saved_model))(tf.constant(IMAGES))
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)


def test_native_classifier_from_a_saved_model_round_trips_in_safe_mode(tmp_path: Path) -> None:
    saved_model = tmp_path / "bit"
    save_official_bit("R14x0.25", saved_model)
    model = compiled(build_classifier("R14x0.25", 3, weights=str(saved_model)))
    for _ in range(3):
        model.train_on_batch(IMAGES, LABELS)
    path = tmp_path / "classifier.keras"
    model.save(path)
    shutil.rmtree(saved_model)  # nothing of the SavedModel is needed any more
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(IMAGES), model(IMAGES), rtol=1e-6, atol=1e-6)
    assert np.abs(model(IMAGES).numpy()).max() > 0
    assert backbone_input_range(loaded) == (-1.0, 1.0)


def test_official_saved_model_of_another_size_fails_in_one_line(tmp_path: Path) -> None:
    save_official_bit("R14x0.5", tmp_path / "bit_r14x0.5")
    with pytest.raises(ModelError) as info:
        build_classifier("R14x0.25", 2, weights=str(tmp_path / "bit_r14x0.5"))
    message = str(info.value)
    assert info.value.subject == "architecture" and "\n" not in message
    assert "bit_r14x0.5' holds R14x0.5 weights, but the model is R14x0.25; set R14x0.5" in message


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


def test_hub_backbone_sees_unit_range_images(
    hub_saved_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = logged_build(hub_saved_model, caplog)
    assert "using its graph (TFSMLayer)" in caplog.text
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
    with pytest.raises(ModelError, match=r"^R50x1 has 2048 .* 512"):
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
    with pytest.raises(ModelError, match=r"outputs \['embedding', 'logits'\]"):
        build_classifier("R14x0.25", 2, weights=str(tmp_path / "bad"))


def garbage_saved_model(path: Path) -> Path:
    (path / "saved_model.pb").write_bytes(b"\x00 not a SavedModel \xff\n" * 3)
    return path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "absent", "not found"),
        (lambda p: p, "neither an .npz file nor a SavedModel directory"),
        (garbage_saved_model, "cannot load SavedModel"),
    ],
)
def test_bad_saved_model_locations(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(ModelError, match=match) as info:
        build_classifier("R14x0.25", 2, weights=str(make(tmp_path)))
    assert "\n" not in str(info.value)


def test_fallback_keras_round_trip_needs_unsafe_mode_and_keeps_tuned_weights(
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


def test_keras_still_lets_the_backbone_rename_the_saved_model_variables(
    hub_saved_model: Path,
) -> None:
    """HubBackbone overrides TFSMLayer._add_existing_weight and calls Layer._track_variable,
    both private to Keras: this fails when a Keras release renames them or stops calling
    the first for each of the SavedModel's variables."""
    assert callable(getattr(keras.layers.TFSMLayer, "_add_existing_weight", None)), (
        "keras.layers.TFSMLayer no longer has _add_existing_weight: HubBackbone's renaming "
        "of the SavedModel's variables is never called"
    )
    assert callable(getattr(keras.layers.Layer, "_track_variable", None)), (
        "keras.layers.Layer no longer has _track_variable, which HubBackbone calls"
    )
    backbone = HubBackbone(str(hub_saved_model))
    # the SavedModel's one variable, conv/kernel:0, tracked once, named as HubBackbone names it
    assert [(w.name, w.trainable) for w in backbone.weights] == [("conv_kernel", True)]
    kernel = backbone.trainable_weights[0]
    kernel.assign(kernel + 1.0)  # the tracked weight is the variable the SavedModel calls
    features = backbone(IMAGES)
    kernel.assign(kernel - 1.0)
    assert not np.allclose(features, backbone(IMAGES))
