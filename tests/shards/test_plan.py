"""The shard plan, through the real TFRecordShardsDataset: round trips, the fixed write
order, skipped images and a refused index (the node's parameters:
``tests/pipelines/preprocessing/test_nodes.py``)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bit_finetune.config import PreprocessingParams
from bit_finetune.data.source import ImageSource
from bit_finetune.shards.plan import plan_shards
from bit_finetune.shards.records import record_features
from bit_finetune.shards.shard_set import ShardSet
from tests.shards.shard_inputs import LABELS, BytesSource, image, index, saved

SIZE = 16


def run(source: ImageSource, rows, path: Path, **params) -> ShardSet:
    settings = {"encoding": "png", "examples_per_shard": 4, "workers": 1, "progress": False}
    payload = plan_shards(source, rows, SIZE, LABELS, PreprocessingParams(**settings | params))
    return saved(payload, path)


def records(shards: ShardSet, split: str) -> dict[str, dict]:
    out = {}
    for raw in tf.data.TFRecordDataset(shards.files(split)):
        features = tf.io.parse_single_example(raw, record_features())
        out[features["id"].numpy().decode()] = features
    return out


@pytest.mark.parametrize("encoding", ["png", "raw"])
def test_lossless_images_round_trip(tmp_path: Path, encoding: str):
    sizes = {f"u{i}": (SIZE, SIZE) if i < 6 else (30 + i, 20) for i in range(9)}
    source = BytesSource({uri: image(i, size) for i, (uri, size) in enumerate(sizes.items())})
    rows = index(list(sizes), ["train"] * 6 + ["validation"] * 2 + ["test"])
    shards = run(source, rows, tmp_path / "shards", encoding=encoding)

    assert shards.splits() == ["train", "validation", "test"]
    assert [shards.count(s) for s in shards.splits()] == [6, 2, 1]
    assert len(shards.files("train")) == 6  # 6 examples / 4 per shard -> 2 -> 8 -> at most 6
    assert shards.image_size == SIZE and shards.label_names == LABELS
    assert shards.manifest["encoding"] == encoding
    for example in shards.dataset("train"):
        uri = example["id"].numpy().decode().removeprefix("id-")
        i = int(uri[1:])
        expected = np.asarray(Image.open(io.BytesIO(source.images[uri])))
        np.testing.assert_array_equal(example["image"].numpy(), expected)
        assert int(example["label"]) == i % 2
    for split in ("validation", "test"):
        for example_id, features in records(shards, split).items():
            assert (int(features["width"]), int(features["height"])) == sizes[example_id[3:]]
            assert features["format"].numpy() == encoding.encode()
    shapes = {tuple(e["image"].shape) for e in shards.dataset("validation")}
    assert shapes == {(SIZE, SIZE, 3)}


def test_write_order_is_shuffled_but_fixed(tmp_path: Path):
    uris = [f"u{i:02d}" for i in range(12)]
    source = BytesSource({uri: image(i, (8, 8)) for i, uri in enumerate(uris)})
    rows = index(uris, ["train"] * 12)
    first = run(source, rows, tmp_path / "a")
    second = run(source, rows.iloc[::-1], tmp_path / "b")  # row order does not matter
    order = [e["id"].numpy().decode() for e in first.dataset("train")]
    assert sorted(order) == sorted(rows["id"]) and order != sorted(order)
    assert first.manifest == second.manifest


def test_undecodable_images_are_skipped_and_reported(tmp_path: Path, caplog):
    cut = image(2, (40, 30), "JPEG")
    cut = cut[: len(cut) // 2]
    with Image.open(io.BytesIO(cut)) as header:
        assert header.size == (40, 30)  # the header alone looks fine
    source = BytesSource({"ok": image(1, (40, 30), "JPEG"), "cut": cut, "gone": None})
    rows = index(["ok", "cut", "gone"], ["train"] * 3)
    with caplog.at_level(logging.WARNING):
        shards = run(source, rows, tmp_path / "shards", encoding="jpeg")
    assert shards.count("train") == 1 == len(list(shards.dataset("train")))
    skipped = {s["id"]: s["reason"] for s in shards.manifest["splits"]["train"]["skipped"]}
    assert set(skipped) == {"id-cut", "id-gone"}
    assert "truncated" in skipped["id-cut"].lower() and "gone" in skipped["id-gone"]
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "id-cut" in warnings and "truncated" in warnings and "id-gone" in warnings


@pytest.mark.slow
def test_two_workers_write_the_same_bytes_as_one(tmp_path: Path):
    uris = [f"u{i:02d}" for i in range(40)]
    source = BytesSource({uri: image(i, (60, 45), "JPEG") for i, uri in enumerate(uris)})
    rows = index(uris, ["train"] * 32 + ["test"] * 8)
    one = run(source, rows, tmp_path / "one", encoding="jpeg", workers=1)
    two = run(source, rows, tmp_path / "two", encoding="jpeg", workers=2)
    assert one.manifest == two.manifest
    assert one.count("train") == 32


def test_bad_index_is_refused():
    source = BytesSource({"a": image(0, (8, 8))})
    rows = index(["a"], ["train"]).assign(label=5)
    with pytest.raises(ValueError, match="label 5 of 'id-a' is outside label_map.names"):
        plan_shards(source, rows, SIZE, LABELS, PreprocessingParams())
    with pytest.raises(ValueError, match="filtered_index: no images to write"):
        plan_shards(source, rows.iloc[:0], SIZE, LABELS, PreprocessingParams())
