"""The recipe of a training: what decides a checkpoint (and so its hash and its
workspace's name), and what changed between two recipes."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bit_finetune.training import recipe
from tests.training.hand_made import TRAIN_SPLIT, record

NOW = time.time()
OTHER_DATA = {**TRAIN_SPLIT, "files": [{**TRAIN_SPLIT["files"][0], "sha256": "cd" * 32}]}


def restamp(path: Path) -> None:
    """Write the zip file ``path`` again with other member times (a later export)."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            info.date_time = (2001, 2, 3, 4, 5, 6)
            archive.writestr(info, data)


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 32},
        {"total_steps": 12},
        {"training__seed": 1},
        {"training__finetune": "head"},
        {"training__augment": {"random_flip": False}},
        {"training__model": {"architecture": "R26x0.5"}},
        {"train_split": OTHER_DATA},
    ],
    ids=lambda change: next(iter(change)),
)
def test_what_decides_a_checkpoint_makes_another_recipe(change):
    assert record(**change)["sha256"] != record()["sha256"]


@pytest.mark.parametrize(
    "change",
    [
        {"reasons": {"batch_size": "why"}},
        {"overrides": {"batch_size": 16}},
        {"training__strategy": "mirrored"},
        {"training__mixed_precision": "bfloat16"},
        {"training__micro_batch_size": 4},
        {"training__xla": "on"},
        {"training__resume": False},
        {"training__checkpoint_every": 3},
        {"training__log_every": 5},
        {"training__shuffle_buffer": 3},
        {"training__progress": False},
    ],
    ids=lambda change: next(iter(change)),
)
def test_explanations_and_runtime_settings_keep_the_recipe(change):
    assert record(**change)["sha256"] == record()["sha256"]


def test_the_folder_is_named_by_architecture_and_hash():
    made = record()
    assert recipe.workspace_name(made) == f"R14x0.25-{made['sha256'][:12]}"
    assert made["seed"] == 0 and made["data"] == TRAIN_SPLIT


def test_a_local_weights_file_counts_by_its_arrays(tmp_path):
    path = tmp_path / "backbone.npz"

    def weights_record(kernel: np.ndarray | None = None) -> dict:
        if kernel is not None:
            np.savez(path, **{"resnet/root_block/standardized_conv2d/kernel": kernel})
        return record(training__model={"architecture": "R14x0.25", "weights": str(path)})

    first = weights_record(np.zeros([3, 3, 3, 4]))
    before = path.read_bytes()
    restamp(path)
    assert path.read_bytes() != before
    assert weights_record()["sha256"] == first["sha256"]  # the same weights exported again
    retrained = weights_record(np.ones([3, 3, 3, 4]))
    assert retrained["sha256"] != first["sha256"]
    assert recipe.differences(first["model"], retrained["model"]) == ["weights_sha256 changed"]


def test_differences_name_nested_keys_and_only_name_long_changes():
    old, new = record(), record(batch_size=64, train_split=OTHER_DATA)
    changes = recipe.differences(old, new)
    assert changes[:2] == ["data.files changed", "hyperrule.batch_size: 16 -> 64"]
