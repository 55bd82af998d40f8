"""The distributed input pipeline: sharding, per-replica batches, MixUp placement."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from storage_faults import damage_record

from bit_finetune.config import AugmentParams
from bit_finetune.errors import ShardDamagedError
from bit_finetune.hyperrule import HyperRule
from bit_finetune.training.inputs import TrainData, pipeline_seeds, shard_examples, train_dataset
from tests.training.tiny import CLASSES, CROP, colour_shards, tiny_data, tiny_recipe

NO_AUGMENT = AugmentParams(random_crop=False, random_flip=False)


def context(pipelines: int, pipeline: int, replicas: int) -> tf.distribute.InputContext:
    return tf.distribute.InputContext(pipelines, pipeline, replicas)


def file_backed(files: int, per_file: int = 5) -> tuple[TrainData, list]:
    """Data whose examples carry the index of the file they came from in ``label``."""
    requested = []

    def read(paths):
        requested.append(paths)
        chosen = paths if paths is not None else names
        ids = [int(p[1:]) for p in chosen for _ in range(per_file)]
        return tf.data.Dataset.from_tensor_slices({"label": tf.constant(ids, tf.int64)})

    names = [f"f{i}" for i in range(files)]
    return TrainData(read=read, examples=files * per_file, files=tuple(names)), requested


def labels(ds: tf.data.Dataset) -> list[int]:
    return [int(e["label"]) for e in ds]


def test_file_sharding_gives_each_pipeline_whole_files():
    data, requested = file_backed(files=4)
    seen = [labels(shard_examples(data, context(2, i, 2))) for i in range(2)]
    assert requested == [["f0", "f2"], ["f1", "f3"]]
    assert sorted(set(seen[0])) == [0, 2] and sorted(set(seen[1])) == [1, 3]


def test_data_sharding_when_files_are_too_few():
    data, requested = file_backed(files=1, per_file=6)
    for i in range(3):
        assert len(labels(shard_examples(data, context(3, i, 3)))) == 2
    assert requested == [None, None, None]


def test_single_pipeline_reads_everything():
    data, requested = file_backed(files=3)
    assert len(labels(shard_examples(data, context(1, 0, 4)))) == 15
    assert requested == [None]


def test_in_memory_data_is_split_by_example():
    first, second = (
        {e["id"].numpy() for e in shard_examples(tiny_data(10), context(2, k, 2))} for k in range(2)
    )
    assert len(first) == len(second) == 5
    assert not first & second


def test_batches_are_per_replica_and_one_hot():
    ds = train_dataset(
        tiny_data(),
        HyperRule.of(tiny_recipe(batch_size=16)),
        NO_AUGMENT,
        shuffle_buffer=8,
        seeds=(1, 2, 3),
        context=context(1, 0, 4),
    )
    images, onehot = next(iter(ds))
    assert images.shape == (4, CROP, CROP, 3) and images.dtype == tf.float32
    assert onehot.shape == (4, CLASSES)
    np.testing.assert_array_equal(onehot.numpy().sum(-1), 1.0)
    assert set(np.unique(onehot.numpy())) <= {0.0, 1.0}


def test_mixup_is_applied_after_batching_when_alpha_is_positive():
    ds = train_dataset(
        tiny_data(),
        HyperRule.of(tiny_recipe(batch_size=32, mixup_alpha=1.0)),
        NO_AUGMENT,
        shuffle_buffer=8,
        seeds=(1, 2, 3),
        context=context(1, 0, 1),
    )
    _, mixed = next(iter(ds))
    y = mixed.numpy()
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-6)
    assert not set(np.unique(y)) <= {0.0, 1.0}  # soft labels
    lam = None
    for row, partner in zip(y, y[::-1]):  # one lambda for the whole batch
        if np.argmax(row) != np.argmax(partner):
            weight = row.max()
            lam = weight if lam is None else lam
            assert np.isclose(weight, lam) or np.isclose(weight, 1 - lam)


def test_the_pipeline_is_endless():
    ds = train_dataset(
        tiny_data(20),
        HyperRule.of(tiny_recipe(batch_size=8)),
        NO_AUGMENT,
        shuffle_buffer=4,
        seeds=(1, 2, 3),
        context=context(1, 0, 1),
    )
    assert len(list(ds.take(10))) == 10  # 80 images from 20 examples


def test_seeds_differ_by_pipeline_and_start_step():
    assert (
        len(
            {
                pipeline_seeds(0, 0, 0),
                pipeline_seeds(0, 0, 1),
                pipeline_seeds(0, 40, 0),
                pipeline_seeds(1, 0, 0),
            }
        )
        == 4
    )
    assert pipeline_seeds(5, 10, 1) == pipeline_seeds(5, 10, 1)


@pytest.fixture
def shards(tmp_path):
    """40 train images in 8 shard files of 5."""
    return colour_shards(tmp_path / "shards", {"train": 40})


def train_file(shards, index: int) -> Path:
    return Path(shards.files("train")[index])


def test_training_reads_only_verified_shards(shards):
    data = TrainData.from_shards(shards)
    assert data.examples == 40 and data.files == tuple(shards.files("train"))
    damage_record(train_file(shards, 2), 3)
    with pytest.raises(ShardDamagedError, match="train-00002-of-00008.tfrecord does not match"):
        TrainData.from_shards(shards)


def test_skipped_damaged_records_are_counted(shards, caplog):
    damage_record(train_file(shards, 2), 3)  # its records 3 and 4 are lost
    train_file(shards, 6).unlink()  # all 5 of its records
    with caplog.at_level(logging.WARNING):
        data = TrainData.from_shards(shards, skip_damaged=True)
    assert data.examples == 33 and len(data.files) == 7
    assert sum(1 for _ in data.read(None)) == 33
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(
        "training.skip_damaged_records: 7 of the 40 records of split 'train' are skipped in "
        "every epoch: train-00002-of-00008.tfrecord does not match its SHA-256"
    )
    assert warning.endswith(": 2 of its 5 records; train-00006-of-00008.tfrecord is missing: "
                            "5 of its 5 records")


def test_a_shard_damaged_after_the_check_is_named_while_training_reads_it(shards):
    data = TrainData.from_shards(shards)
    damage_record(train_file(shards, 0), 1)
    batches = train_dataset(
        data, HyperRule.of(tiny_recipe(batch_size=8)), NO_AUGMENT, shuffle_buffer=8,
        seeds=(1, 2, 3),
        context=context(1, 0, 1),
    )
    with pytest.raises(ShardDamagedError) as failure, data.naming_damage():
        for _ in batches.take(10):
            pass
    assert "a record could not be read (corrupted record at" in str(failure.value)
    assert "train-00000-of-00008.tfrecord does not match its SHA-256" in str(failure.value)
