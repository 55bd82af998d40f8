"""The shard set as a catalog entry: an incomplete set does not exist and fails to load
with the core error behind Kedro's wrapper; save errors are wrapped; preview, describe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro.io import DatasetError

from bit_finetune.catalog import TFRecordShardsDataset
from bit_finetune.errors import IncompleteShardSetError, expected
from bit_finetune.shards.records import ShardPayload
from tests.shards.test_shard_set import payload


@pytest.fixture
def written(tmp_path: Path) -> Path:
    path = tmp_path / "shards"
    TFRecordShardsDataset(str(path)).save(payload({"train": list(range(20)), "test": [20, 21]}))
    return path


def test_an_incomplete_set_does_not_exist_and_names_the_fix(written: Path):
    (written / "manifest.json").unlink()
    dataset = TFRecordShardsDataset(str(written))
    assert not dataset.exists()
    with pytest.raises(DatasetError) as raised:
        dataset.load()
    assert isinstance(expected(raised.value), IncompleteShardSetError)
    assert "manifest.json is missing" in str(expected(raised.value))


def test_checksum_verification_decides_existence(written: Path):
    shard = min(written.glob("test-*"))
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert TFRecordShardsDataset(str(written)).exists()  # sizes still agree
    assert not TFRecordShardsDataset(str(written), verify="checksum").exists()


def test_a_bad_payload_is_a_dataset_error(tmp_path: Path):
    bad = ShardPayload({"train": []}, {"train": 0}, {"image_size": 8})
    with pytest.raises(DatasetError, match="needs 'label_names'"):
        TFRecordShardsDataset(str(tmp_path / "shards")).save(bad)


def test_preview_and_describe(written: Path):
    dataset = TFRecordShardsDataset(str(written))
    preview = dataset.preview()
    json.dumps(preview)
    assert preview["columns"] == ["split", "examples", "files", "skipped"]
    assert preview["data"] == [["train", 20, 8, 0], ["test", 2, 1, 0]]
    assert str(written) in str(dataset)
