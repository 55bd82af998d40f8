"""Ingestion: label ids, stratified seeded splits, few-shot sampling, and the errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pytest

from bit_finetune.config import SplitFractions
from bit_finetune.datasets import ImageFolderDataset
from bit_finetune.datasets.source import ImageSource, ReadResult, SourceItem
from bit_finetune.errors import ConfigError
from bit_finetune.pipelines.ingestion import create_pipeline
from bit_finetune.pipelines.ingestion.nodes import (
    carve_shares,
    few_shot,
    index_images,
    make_splits,
    stratified_carve,
)

FRACTIONS = SplitFractions(train=0.8, validation=0.1, test=0.1)


class ListedSource(ImageSource):
    """An in-memory source listing the given items (nothing to read)."""

    def __init__(self, items: Iterable[SourceItem], names: list[str] | None = None) -> None:
        self.items = list(items)
        self.names = names

    def scan(self) -> Iterator[SourceItem]:
        return iter(self.items)

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        return (ReadResult(uri, b"") for uri in uris)

    @property
    def label_names(self) -> list[str] | None:
        return self.names

    def describe(self) -> dict:
        return {"type": "listed"}


def listed(sizes: dict[str, int], split: str | None = None) -> list[SourceItem]:
    return [
        SourceItem(f"{split or 'all'}/{label}/{n}", f"mem:{split}/{label}/{n}", label, split)
        for label, count in sizes.items()
        for n in range(count)
    ]


def split_counts(index: pd.DataFrame) -> dict[tuple[str, str], int]:
    return index.groupby(["split", "label_name"]).size().to_dict()


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


def test_index_images_unsplit_source():
    source = ListedSource(listed({"dog": 20, "cat": 30}))
    index, label_map = index_images(source, {"seed": 1})
    assert label_map == {"names": ["cat", "dog"]}
    assert list(index.columns) == ["id", "uri", "label", "label_name", "split"]
    assert index["label"].dtype == np.int64
    assert (index["label"] == index["label_name"].map({"cat": 0, "dog": 1})).all()
    assert split_counts(index) == {
        ("test", "cat"): 3, ("test", "dog"): 2, ("train", "cat"): 24, ("train", "dog"): 16,
        ("validation", "cat"): 3, ("validation", "dog"): 2,
    }
    assert index["split"].tolist() == sorted(
        index["split"], key=["train", "validation", "test"].index
    )


def test_index_images_is_deterministic_whatever_the_scan_order():
    items = listed({"a": 12, "b": 9, "c": 7})
    first, _ = index_images(ListedSource(items), {"seed": 5})
    again, _ = index_images(ListedSource(items[::-1]), {"seed": 5})
    pd.testing.assert_frame_equal(first, again)
    other, _ = index_images(ListedSource(items), {"seed": 6})
    assert set(zip(first["id"], first["split"])) != set(zip(other["id"], other["split"]))


def test_source_label_order_is_kept():
    source = ListedSource(listed({"cat": 5, "dog": 5}), names=["dog", "cat", "bird"])
    index, label_map = index_images(source, {})
    assert label_map == {"names": ["dog", "cat", "bird"]}
    assert set(zip(index["label_name"], index["label"])) == {("dog", 0), ("cat", 1)}
    with pytest.raises(ValueError, match=r"labelled \['cow'\]"):
        index_images(ListedSource(listed({"cow": 2, "cat": 2}), names=["cat"]), {})


def test_split_folder_without_validation(image_folder):
    root = image_folder(classes=("a", "b"), per_class=9, splits=("train", "test"), sizes=(8, 8))
    index, _ = index_images(ImageFolderDataset(str(root)).load(), {})
    counts = split_counts(index)
    assert counts[("test", "a")] == counts[("test", "b")] == 9
    assert counts[("validation", "a")] + counts[("validation", "b")] == 2  # 18 / 9
    assert index.loc[index["split"] == "test", "id"].str.startswith("test/").all()


def test_few_shot_samples_train_only_seeded_and_nested():
    source = ListedSource(listed({"a": 20, "b": 30, "c": 25}))
    full, _ = index_images(source, {})
    two, _ = index_images(source, {"examples_per_class": 2})
    five, _ = index_images(source, {"examples_per_class": 5})
    assert two[two["split"] == "train"]["label_name"].value_counts().to_dict() == {
        "a": 2, "b": 2, "c": 2,
    }
    held_out = full[full["split"] != "train"]
    for sample in (two, five):
        pd.testing.assert_frame_equal(
            sample[sample["split"] != "train"].reset_index(drop=True),
            held_out.reset_index(drop=True),
        )
    assert set(two["id"]) < set(five["id"])
    other, _ = index_images(source, {"examples_per_class": 5, "seed": 0})
    assert set(other["id"]) != set(five["id"])


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


def test_one_class_fails_naming_min_classes(image_folder):
    source = ImageFolderDataset(str(image_folder(classes=("cat",)))).load()
    one = r"ingestion.min_classes: raw_images has 1 class\(es\) \(cat\)"
    with pytest.raises(ConfigError, match=one):
        index_images(source, {})
    with pytest.raises(ConfigError, match="at least 4"):
        index_images(ListedSource(listed({"a": 2, "b": 2, "c": 2})), {"min_classes": 4})


def test_bad_parameters_and_empty_source():
    with pytest.raises(ConfigError, match="ingestion.examples_per_class"):
        index_images(ListedSource(listed({"a": 2})), {"examples_per_class": 0})
    with pytest.raises(ConfigError, match="lists no images"):
        index_images(ListedSource([]), {})


def test_pipeline_wiring():
    (node,) = create_pipeline().nodes
    assert node.name == "index_images"
    assert node.inputs == ["raw_images", "params:ingestion"]
    assert node.outputs == ["image_index", "label_map"]
    assert node.tags == {"ingestion"}
