"""The write_shards node: its parameters and the shard set its plan saves (the plan
itself: ``tests/shards/test_plan.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bit_finetune.errors import ConfigError
from bit_finetune.pipelines.preprocessing.nodes import write_shards
from tests.shards.shard_inputs import LABELS, BytesSource, image, index, saved


def test_the_shards_take_the_hyperrule_size_and_the_label_map(tmp_path: Path):
    source = BytesSource({"a": image(0, (30, 20)), "b": image(1, (8, 8))})
    rows = index(["a", "b"], ["train", "test"])
    params = {"encoding": "png", "workers": 1, "progress": False}
    shards = saved(
        write_shards(source, rows, {"resize_size": 12}, {"names": LABELS}, params),
        tmp_path / "shards",
    )
    assert shards.splits() == ["train", "test"]
    assert shards.image_size == 12 and shards.label_names == LABELS
    assert shards.manifest["encoding"] == "png"
    assert {tuple(e["image"].shape) for e in shards.dataset("train")} == {(12, 12, 3)}


def test_bad_parameters_name_the_key():
    source, rows = BytesSource({"a": image(0, (8, 8))}), index(["a"], ["train"])
    with pytest.raises(ConfigError, match="preprocessing.jpeg_quality"):
        write_shards(source, rows, {"resize_size": 12}, {"names": LABELS}, {"jpeg_quality": 0})
