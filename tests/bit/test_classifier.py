"""The native classifier: head, outputs and .keras round trip in safe mode."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from bit_finetune.bit.classifier import (
    backbone_input_range,
    build_classifier,
    feature_extractor,
    freeze_below,
    head_model,
)
from bit_finetune.bit.layers import StandardizedConv2D
from bit_finetune.errors import ModelError

IMAGES = np.random.default_rng(3).random((3, 40, 40, 3), dtype="float32")


def test_head_is_zero_initialised_and_logits_are_float32() -> None:
    model = build_classifier("R14x0.25", 7)
    head = model.get_layer("head")
    assert isinstance(head, keras.layers.Dense)
    assert head.kernel.shape == (512, 7)
    assert not np.any(head.kernel.numpy()) and not np.any(head.bias.numpy())
    logits = model(IMAGES)
    assert logits.shape == (3, 7) and logits.dtype == "float32"
    np.testing.assert_array_equal(logits, np.zeros((3, 7)))


def test_keras_round_trip_in_safe_mode(tmp_path: Path) -> None:
    model = build_classifier("R14x0.25", 4)
    rng = np.random.default_rng(4)
    head = model.get_layer("head")
    head.kernel.assign(rng.normal(size=head.kernel.shape).astype("float32"))
    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode defaults to on
    np.testing.assert_array_equal(loaded(IMAGES), model(IMAGES))
    assert np.abs(model(IMAGES).numpy()).max() > 0
    assert isinstance(loaded.get_layer("backbone").get_layer("root_conv"), StandardizedConv2D)
    assert backbone_input_range(loaded) == (-1.0, 1.0)


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True])
def test_num_classes_must_be_a_positive_int(num_classes) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        build_classifier("R14x0.25", num_classes)


def test_unknown_architecture() -> None:
    with pytest.raises(ValueError, match="unknown BiT architecture 'R49x1'"):
        build_classifier("R49x1", 2)


def test_feature_extractor_and_head_model_make_up_the_classifier() -> None:
    model = build_classifier("R14x0.25", 3)
    head_only = head_model(model)
    rng = np.random.default_rng(5)
    head_only.get_layer("head").set_weights([rng.normal(size=(512, 3)), rng.normal(size=3)])
    features = feature_extractor(model)(IMAGES)
    assert features.shape == (3, 512)
    np.testing.assert_allclose(head_only(features), model(IMAGES), rtol=1e-5, atol=1e-6)
    assert [w.path for w in head_only.trainable_weights] == ["head/kernel", "head/bias"]


def test_freeze_below_trains_only_from_the_stage_on() -> None:
    model = build_classifier("R14x0.25", 3)
    freeze_below(model, "block3")
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {
        "block3_unit01_a_gn", "block3_unit01_a_proj", "block3_unit01_a_conv",
        "block3_unit01_b_gn", "block3_unit01_b_conv", "block3_unit01_c_gn",
        "block3_unit01_c_conv", "block4_unit01_a_gn", "block4_unit01_a_proj",
        "block4_unit01_a_conv", "block4_unit01_b_gn", "block4_unit01_b_conv",
        "block4_unit01_c_gn", "block4_unit01_c_conv", "pre_head_gn", "head",
    }


def test_freeze_below_needs_a_native_backbone(hub_saved_model: Path) -> None:
    model = build_classifier("R14x0.25", 3, weights=str(hub_saved_model))
    with pytest.raises(ModelError, match="'block4' needs a native BiT") as error:
        freeze_below(model, "block4")
    assert error.value.subject == "finetune"
