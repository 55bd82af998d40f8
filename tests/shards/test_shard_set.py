"""The TFRecord shard set: round trip, completeness checks, atomic replace, determinism."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from storage_faults import damage_record

from bit_finetune.errors import IncompleteShardSetError, ShardDamagedError, UserError
from bit_finetune.shards.records import (
    ShardPayload,
    SkippedExample,
    make_example,
    record_features,
)
from bit_finetune.shards.shard_set import open_shard_set, shard_count, write_shard_set

SIZE = 8
LABELS = ["cat", "dog", "fox"]


def pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def record(seed: int) -> bytes:
    """Example ``seed``: id ``img-<seed>``, label seed % 3, original size (seed+10, seed+20)."""
    return make_example(png(pixels(seed)), "png", seed % 3, f"img-{seed}", seed + 10, seed + 20)


def payload(splits: dict[str, list[int]], examples_per_shard: int = 4) -> ShardPayload:
    return ShardPayload(
        splits={split: (record(s) for s in seeds) for split, seeds in splits.items()},
        expected={split: len(seeds) for split, seeds in splits.items()},
        metadata={"label_names": LABELS, "image_size": SIZE, "encoding": "png"},
        examples_per_shard=examples_per_shard,
    )


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith("."))


@pytest.fixture
def written(tmp_path: Path) -> Path:
    path = tmp_path / "shards"
    write_shard_set(str(path), payload({"train": list(range(20)), "test": [20, 21]}))
    return path


@pytest.mark.parametrize(
    ("examples", "per_shard", "files"),
    [(0, 8, 0), (5, 8, 1), (8, 8, 1), (9, 8, 8), (64, 8, 8), (65, 8, 16), (3, 1, 3),
     (1437, 1024, 8), (20_000, 1024, 24)],
)
def test_shard_count(examples: int, per_shard: int, files: int):
    assert shard_count(examples, per_shard) == files


def test_round_trip(written: Path):
    shards = open_shard_set(str(written))
    assert shards.splits() == ["train", "test"]
    assert shards.label_names == LABELS and shards.image_size == SIZE
    assert shards.count("train") == 20 and shards.count("test") == 2
    names = [Path(f).name for f in shards.files("train")]
    assert names == [f"train-{i:05d}-of-00008.tfrecord" for i in range(8)]
    assert [f["count"] for f in shards.manifest["splits"]["train"]["files"]] == [3, 2] * 4
    dataset = shards.dataset("train")
    assert dataset.element_spec["image"].shape == (SIZE, SIZE, 3)
    seen = {}
    for example in dataset:
        seed = int(example["id"].numpy().decode().removeprefix("img-"))
        assert example["image"].dtype == tf.uint8
        np.testing.assert_array_equal(example["image"].numpy(), pixels(seed))
        assert int(example["label"]) == seed % 3
        seen[seed] = True
    assert sorted(seen) == list(range(20))
    raw = next(iter(tf.data.TFRecordDataset(shards.files("test"))))
    features = tf.io.parse_single_example(raw, record_features())
    assert (int(features["width"]), int(features["height"])) == (30, 40)
    assert features["format"].numpy() == b"png"


def test_dataset_of_chosen_files(written: Path):
    shards = open_shard_set(str(written))
    first = shards.files("train")[:1]
    assert len(list(shards.dataset("train", files=first))) == 3
    with pytest.raises(KeyError, match="'validation' is not in the shard set"):
        shards.count("validation")


def test_folder_without_manifest_is_not_complete(written: Path):
    (written / "manifest.json").unlink()
    assert list(written.glob("*.tfrecord"))
    with pytest.raises(IncompleteShardSetError, match="manifest.json is missing"):
        open_shard_set(str(written))


def _truncate_file(path: Path) -> None:
    shard = min(path.glob("train-*"))
    shard.write_bytes(shard.read_bytes()[:-5])


def _remove_file(path: Path) -> None:
    max(path.glob("train-*")).unlink()


def _overstate_count(path: Path) -> None:
    data = manifest(path)
    data["splits"]["train"]["count"] += 1
    (path / "manifest.json").write_text(json.dumps(data))


def _garble_manifest(path: Path) -> None:
    (path / "manifest.json").write_text('{"format_version": 1, "splits": ')


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate_file, "bytes, the manifest says"),
        (_remove_file, "is missing"),
        (_overstate_count, "counts 21 examples but its files hold 20"),
        (_garble_manifest, "unreadable or malformed"),
    ],
)
def test_inconsistent_manifest_is_not_complete(written: Path, damage, message: str):
    damage(written)
    with pytest.raises(IncompleteShardSetError, match=message):
        open_shard_set(str(written))


def test_checksum_verification_catches_same_size_damage(written: Path):
    shard = min(written.glob("test-*"))
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0xFF
    shard.write_bytes(bytes(data))
    open_shard_set(str(written))  # sizes still agree
    with pytest.raises(IncompleteShardSetError, match="does not match its SHA-256"):
        open_shard_set(str(written), checksums=True)


def test_verify_names_the_damaged_and_missing_files_of_the_split(written: Path):
    shards = open_shard_set(str(written))
    damaged = written / "train-00002-of-00008.tfrecord"
    recorded = manifest(written)["splits"]["train"]["files"][2]["sha256"]
    damage_record(damaged, 1)
    found = hashlib.sha256(damaged.read_bytes()).hexdigest()
    (written / "train-00005-of-00008.tfrecord").unlink()
    shards.verify("test")  # only the split read is checked
    with pytest.raises(ShardDamagedError) as failure:
        shards.verify("train")
    message = str(failure.value)
    assert isinstance(failure.value, UserError)
    assert message.startswith(f"tfrecord_shards: split 'train' of the shard set at {written} ")
    assert (
        f"train-00002-of-00008.tfrecord does not match its SHA-256 in the manifest (it has "
        f"{found[:16]}..., the manifest says {recorded[:16]}...)"
    ) in message
    assert "train-00005-of-00008.tfrecord is missing" in message
    assert message.endswith("Rewrite the shards with `kedro run --pipelines preprocessing`")


def test_a_record_damaged_after_the_check_is_named(written: Path):
    shards = open_shard_set(str(written))
    shards.verify("train")
    damage_record(written / "train-00004-of-00008.tfrecord", 0)
    with pytest.raises(ShardDamagedError) as failure, shards.naming_damage("train"):
        list(shards.dataset("train"))
    assert re.search(
        r"a record could not be read \(corrupted record at \d+\): "
        r"train-00004-of-00008\.tfrecord does not match its SHA-256",
        str(failure.value),
    )
    assert isinstance(failure.value.__cause__, tf.errors.DataLossError)


def test_skipping_damage_reads_a_file_up_to_its_first_damaged_record(written: Path):
    shards = open_shard_set(str(written))
    damage_record(written / "train-00000-of-00008.tfrecord", 1)  # records 0, 1, 2: img-0..2
    (damaged,) = shards.damaged("train")
    assert (damaged.records, shards.readable_records(damaged), damaged.missing) == (3, 1, False)
    read = shards.dataset("train", skip_damaged=True).as_numpy_iterator()
    ids = sorted(int(e["id"].decode().removeprefix("img-")) for e in read)
    assert ids == [0, *range(3, 20)]


def test_failed_save_keeps_the_old_set(written: Path):
    before = manifest(written)

    def interrupted() -> Iterator[bytes]:
        yield record(100)
        assert open_shard_set(str(written)).count("train") == 20
        raise RuntimeError("disk full")

    broken = ShardPayload(
        {"train": interrupted()}, {"train": 5}, {"label_names": LABELS, "image_size": SIZE}
    )
    with pytest.raises(RuntimeError, match="disk full"):
        write_shard_set(str(written), broken)
    assert manifest(written) == before
    assert open_shard_set(str(written)).count("train") == 20
    assert leftovers(written) == []

    write_shard_set(str(written), payload({"train": [1, 2, 3]}))
    shards = open_shard_set(str(written))
    assert shards.splits() == ["train"] and shards.count("train") == 3
    assert sorted(p.name for p in written.iterdir()) == [
        "manifest.json",
        "train-00000-of-00001.tfrecord",
    ]
    assert leftovers(written) == []


def test_save_removes_what_a_killed_save_left(written: Path):
    stale = written.parent / ".shards.0123abcd.partial"
    stale.mkdir()
    (stale / "train-00000.partial").write_bytes(b"half a shard")
    write_shard_set(str(written), payload({"train": [1]}))
    assert leftovers(written) == []
    assert open_shard_set(str(written)).count("train") == 1


def test_same_payload_gives_identical_files(tmp_path: Path):
    splits = {"train": list(range(12)), "validation": [40, 41, 42]}
    for name in ("a", "b"):
        write_shard_set(str(tmp_path / name), payload(splits))
    assert manifest(tmp_path / "a") == manifest(tmp_path / "b")
    for shard in (tmp_path / "a").glob("*.tfrecord"):
        assert shard.read_bytes() == (tmp_path / "b" / shard.name).read_bytes()


def test_skipped_examples_are_listed_and_empty_shards_dropped(tmp_path: Path):
    def stream() -> Iterator[bytes | SkippedExample]:
        for seed in range(8):
            yield record(seed)
        yield SkippedExample("img-8", "OSError: image file is truncated")

    path = tmp_path / "shards"
    write_shard_set(
        str(path),
        ShardPayload(
            {"train": stream()}, {"train": 9}, {"label_names": LABELS, "image_size": SIZE}, 1
        ),
    )
    shards = open_shard_set(str(path))
    entry = shards.manifest["splits"]["train"]
    assert entry["skipped"] == [{"id": "img-8", "reason": "OSError: image file is truncated"}]
    assert shards.count("train") == 8 == len(list(shards.dataset("train")))
    assert [Path(f).name for f in shards.files("train")][-1] == "train-00007-of-00008.tfrecord"


def test_more_records_than_expected_is_an_error(tmp_path: Path):
    path = tmp_path / "shards"
    too_many = ShardPayload(
        {"train": [record(1), record(2)]}, {"train": 1}, {"label_names": LABELS, "image_size": 8}
    )
    with pytest.raises(ValueError, match="more than the expected 1 examples"):
        write_shard_set(str(path), too_many)
    assert not path.exists() and leftovers(path) == []


def test_payload_needs_manifest_metadata(tmp_path: Path):
    bad = ShardPayload({"train": []}, {"train": 0}, {"image_size": SIZE})
    with pytest.raises(ValueError, match="needs 'label_names'"):
        write_shard_set(str(tmp_path / "shards"), bad)
