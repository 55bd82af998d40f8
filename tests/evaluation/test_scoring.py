"""Scoring helpers: the model's record (from its description, not its name), the splits
chosen, the classes checked and the predictions table without any split."""

from __future__ import annotations

import logging

import keras
import pytest

from bit_finetune.bit.description import DescribedModel
from bit_finetune.evaluation.scoring import (
    check_classes,
    model_record,
    predictions_table,
    splits_to_score,
)
from bit_finetune.hyperrule import HyperRule
from tests.training.tiny import tiny_recipe

RECIPE = HyperRule.of(tiny_recipe(resize_size=8, crop_size=4))


def dense(name: str, architecture: str | None = None) -> keras.Model:
    inputs = keras.Input((2,))
    outputs = keras.layers.Dense(3)(inputs)
    if architecture is None:
        return keras.Model(inputs, outputs, name=name)
    return DescribedModel(
        inputs, outputs, architecture=architecture, initial_weights="random", name=name
    )


def test_the_architecture_comes_from_the_description_not_the_name():
    record = model_record(dense("bit_R14x0_25", architecture="R50x1"), RECIPE)
    assert record == {
        "name": "bit_R14x0_25",
        "architecture": "R50x1",
        "parameters": 9,
        "num_classes": 3,
        "resize_size": 8,
        "crop_size": 4,
    }


@pytest.mark.parametrize(
    ("name", "architecture"),
    [("bit_R26x0_5", "R26x0.5"), ("R14x0.25_colour", None), ("bit_R49x1", None)],
)
def test_a_model_without_description_is_known_only_by_a_classifier_name(name, architecture):
    assert model_record(dense(name), RECIPE)["architecture"] == architecture


class Splits:
    def splits(self):
        return ["train", "test", "validation"]

    def count(self, split):
        return 0 if split == "validation" else 5


def test_splits_to_score_keeps_the_wanted_order_once_each(caplog):
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        chosen = splits_to_score(Splits(), ["test", "holdout", "validation", "train", "test"])
    assert chosen == ["test", "train"]
    assert "no split 'holdout'" in caplog.text and "split 'validation' is empty" in caplog.text


def test_check_classes_names_both_counts():
    check_classes(dense("m"), ["a", "b", "c"])
    with pytest.raises(ValueError, match="predicts 3 classes but label_map names 2"):
        check_classes(dense("m"), ["a", "b"])


def test_without_tables_the_predictions_are_empty_with_their_columns():
    table = predictions_table([], ["a", "b"])
    assert table.empty and "top_labels" in table.columns
