"""Split names and order, stratified seeded carving, few-shot sampling, and the errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bit_finetune.config import SplitFractions
from bit_finetune.data.splits import (
    carve_shares,
    few_shot,
    make_splits,
    split_order,
    stratified_carve,
)
from bit_finetune.errors import ConfigError

FRACTIONS = SplitFractions(train=0.8, validation=0.1, test=0.1)


def test_split_order_puts_known_splits_first_then_others_sorted():
    assert split_order(["test", "extra", "train", "b-side", "test"]) == [
        "train", "test", "b-side", "extra",
    ]  # fmt: skip


def test_carve_shares_follow_the_documented_rule():
    assert carve_shares(FRACTIONS, ["validation", "test"]) == pytest.approx(
        {"validation": 0.1, "test": 0.1}
    )
    assert carve_shares(FRACTIONS, ["validation"]) == pytest.approx({"validation": 1 / 9})
    assert carve_shares(SplitFractions(0.7, 0.1, 0.2), ["test"]) == pytest.approx(
        {"test": 0.2 / 0.9}
    )


def test_stratified_carve_hits_totals_and_each_class_share():
    labels = np.repeat(np.arange(10), 15)
    out = stratified_carve(labels, {"validation": 0.1, "test": 0.1}, seed=3)
    assert (out == "validation").sum() == 15 and (out == "test").sum() == 15
    for label in range(10):
        mine = out[labels == label]
        assert {(mine == s).sum() for s in ("validation", "test")} <= {1, 2}


def test_stratified_carve_is_seeded():
    labels = np.repeat(np.arange(3), 40)
    shares = {"validation": 0.25}
    first = stratified_carve(labels, shares, seed=7)
    np.testing.assert_array_equal(first, stratified_carve(labels, shares, seed=7))
    assert (first != stratified_carve(labels, shares, seed=8)).any()


def test_every_class_keeps_a_training_example():
    labels = np.array([0, 0, 0, 0, 1, 2, 2])
    out = stratified_carve(labels, {"validation": 0.5, "test": 0.4}, seed=0)
    for label in range(3):
        assert "train" in out[labels == label]
    assert out[labels == 1].tolist() == ["train"]


def test_make_splits_keeps_given_splits_and_carves_validation_from_train():
    labels = np.array([0] * 18 + [1] * 18 + [0, 1] * 5)
    given = ["train"] * 36 + ["test"] * 10
    splits = make_splits(labels, given, FRACTIONS, seed=0)
    assert (splits[36:] == "test").all()
    assert (splits[:36] == "validation").sum() == 4  # 36 / 9
    assert (splits[:18] == "validation").sum() == 2


def test_make_splits_errors():
    with pytest.raises(ConfigError, match="no train split"):
        make_splits(np.array([0, 1]), ["test", "validation"], FRACTIONS, seed=0)
    with pytest.raises(ValueError, match="some examples have a split and others none"):
        make_splits(np.array([0, 1]), ["train", None], FRACTIONS, seed=0)


def test_few_shot_names_the_key_when_a_class_is_short():
    index = pd.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "label": [0, 0, 1, 1],
            "label_name": ["a", "a", "b", "b"],
            "split": ["train", "train", "train", "test"],
        }
    )
    assert len(few_shot(index, 1, seed=0)) == 3
    short = "ingestion.examples_per_class: 2, but class 'b' has only 1"
    with pytest.raises(ConfigError, match=short):
        few_shot(index, 2, seed=0)
