"""The image index: label ids, stratified seeded splits, few-shot sampling, and the
errors (the split carving itself: ``tests/data/test_splits.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bit_finetune.catalog import ImageFolderDataset
from bit_finetune.config import stage_params
from bit_finetune.data.image_index import build_index
from bit_finetune.data.source import ImageSource
from bit_finetune.errors import ConfigError
from tests.listed_source import ListedSource, listed


def index_images(source: ImageSource, params: Mapping[str, Any]) -> tuple[pd.DataFrame, dict]:
    """The index of ``source`` with ``ingestion`` parameters ``params``, and its label map."""
    index, names = build_index(source.scan(), source.label_names, stage_params("ingestion", params))
    return index, {"names": names}


def split_counts(index: pd.DataFrame) -> dict[tuple[str, str], int]:
    return index.groupby(["split", "label_name"]).size().to_dict()


def test_unsplit_source():
    source = ListedSource(listed({"dog": 20, "cat": 30}))
    index, label_map = index_images(source, {"seed": 1})
    assert label_map == {"names": ["cat", "dog"]}
    assert list(index.columns) == ["id", "uri", "label", "label_name", "split"]
    assert index["label"].dtype == np.int64
    assert (index["label"] == index["label_name"].map({"cat": 0, "dog": 1})).all()
    assert split_counts(index) == {
        ("test", "cat"): 3,
        ("test", "dog"): 2,
        ("train", "cat"): 24,
        ("train", "dog"): 16,
        ("validation", "cat"): 3,
        ("validation", "dog"): 2,
    }
    assert index["split"].tolist() == sorted(
        index["split"], key=["train", "validation", "test"].index
    )


def test_the_index_is_deterministic_whatever_the_scan_order():
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
        "a": 2,
        "b": 2,
        "c": 2,
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


def test_one_class_fails_naming_min_classes(image_folder):
    source = ImageFolderDataset(str(image_folder(classes=("cat",)))).load()
    one = r"ingestion.min_classes: raw_images has 1 class\(es\) \(cat\)"
    with pytest.raises(ConfigError, match=one):
        index_images(source, {})
    with pytest.raises(ConfigError, match="at least 4"):
        index_images(ListedSource(listed({"a": 2, "b": 2, "c": 2})), {"min_classes": 4})


def test_an_empty_source_is_refused():
    with pytest.raises(ConfigError, match="lists no images"):
        index_images(ListedSource([]), {})
