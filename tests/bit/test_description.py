"""A classifier's description: built in, kept by .keras files and config copies, and
told for classifiers saved before descriptions existed."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.bit.classifier import build_classifier
from bit_finetune.bit.description import DescribedModel, Description, describe
from bit_finetune.bit.npz import save_npz
from bit_finetune.errors import ArchitectureError


def test_a_saved_and_reloaded_classifier_tells_its_architecture_and_weights(tmp_path: Path):
    model = build_classifier("r14x0.25", 3)
    assert describe(model) == Description("R14x0.25", "random")
    model.save(tmp_path / "classifier.keras")
    loaded = keras.saving.load_model(tmp_path / "classifier.keras")  # safe mode
    assert isinstance(loaded, DescribedModel)
    assert describe(loaded) == Description("R14x0.25", "random")
    assert loaded.name == "bit_R14x0_25"


def test_weights_are_recorded_as_given_unless_named(tmp_path: Path):
    path = str(tmp_path / "backbone.npz")
    save_npz(build_backbone("R14x0.25"), path)
    assert describe(build_classifier("R14x0.25", 2, path)).initial_weights == path
    named = build_classifier("R14x0.25", 2, path, weights_name="upstream")
    assert describe(named) == Description("R14x0.25", "upstream")


def test_a_hub_handle_is_recorded(hub_saved_model: Path):
    model = build_classifier("R14x0.25", 2, hub_saved_model)
    assert describe(model) == Description("R14x0.25", str(hub_saved_model))


def test_a_copy_through_the_config_keeps_the_description():
    model = build_classifier("R14x0.25", 2, weights_name="BiT-S-R50x1")
    copy = type(model).from_config(model.get_config())
    assert describe(copy) == Description("R14x0.25", "BiT-S-R50x1")


def test_a_classifier_saved_before_descriptions_tells_its_architecture(tmp_path: Path):
    # what build_classifier returned then: a plain functional model named after its size
    model = build_classifier("R26x0.5", 2)
    old = keras.Model(model.input, model.output, name=model.name)
    old.save(tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert not isinstance(loaded, DescribedModel)
    assert describe(loaded) == Description("R26x0.5", None)


def test_other_models_have_no_description():
    inputs = keras.Input((3,))
    assert describe(keras.Model(inputs, inputs, name="R14x0.25_colour")) is None


def test_the_architecture_must_be_known():
    inputs = keras.Input((3,))
    with pytest.raises(ArchitectureError, match="R49x1"):
        DescribedModel(inputs, inputs, architecture="R49x1", initial_weights=None)
