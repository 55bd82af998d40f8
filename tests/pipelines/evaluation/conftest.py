"""Fixtures of the evaluation tests: a real toy shard set and the colour model."""

from __future__ import annotations

import keras
import pytest

from bit_finetune.datasets.tfrecord_shards import ShardSet
from tests.pipelines.evaluation.toy import colour_model, toys, write_shards

TEST_MISTAKES = {1: 2, 4: 0, 8: 1}


@pytest.fixture(scope="session")
def toy_splits() -> dict:
    """test: 10 examples, 3 of them mislabelled; validation: 5, all right; train: 4."""
    return {
        "train": toys("train", 4),
        "validation": toys("validation", 5),
        "test": toys("test", 10, TEST_MISTAKES),
    }


@pytest.fixture(scope="session")
def shards(tmp_path_factory: pytest.TempPathFactory, toy_splits: dict) -> ShardSet:
    return write_shards(tmp_path_factory.mktemp("evaluation") / "shards", toy_splits)


@pytest.fixture(scope="session")
def model() -> keras.Model:
    return colour_model()
