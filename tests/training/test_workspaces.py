"""Per-recipe workspaces without training: the recipe record, folder names, the step of
the latest checkpoint, picking and moving folders, listing and removing them."""

from __future__ import annotations

import logging
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bit_finetune.training import workspaces as ws
from tests.training.hand_made import TRAIN_SPLIT, record, write_workspace

NOW = time.time()
OTHER_DATA = {**TRAIN_SPLIT, "files": [{**TRAIN_SPLIT["files"][0], "sha256": "cd" * 32}]}


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
    assert ws.workspace_name(made) == f"R14x0.25-{made['sha256'][:12]}"
    assert made["seed"] == 0 and made["data"] == TRAIN_SPLIT


def restamp(path: Path) -> None:
    """Write the zip file ``path`` again with other member times (a later export)."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            info.date_time = (2001, 2, 3, 4, 5, 6)
            archive.writestr(info, data)


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
    assert ws.differences(first["model"], retrained["model"]) == ["weights_sha256 changed"]


def test_differences_name_nested_keys_and_only_name_long_changes():
    old, new = record(), record(batch_size=64, train_split=OTHER_DATA)
    changes = ws.differences(old, new)
    assert changes[:2] == ["data.files changed", "hyperrule.batch_size: 16 -> 64"]


def test_latest_step_reads_the_checkpoint_state_file(tmp_path):
    assert ws.latest_step(tmp_path) == 0
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints/checkpoint").write_text(
        'model_checkpoint_path: "/shared/ws/checkpoints/ckpt-300"\n'
        'all_model_checkpoint_paths: "/shared/ws/checkpoints/ckpt-200"\n'
        'all_model_checkpoint_paths: "/shared/ws/checkpoints/ckpt-300"\n'
    )
    assert ws.latest_step(tmp_path) == 300


@pytest.fixture()
def root(tmp_path) -> Path:
    """Two recipes' folders: batch 16 (step 10, used an hour ago) and batch 32 (step 4,
    used a minute ago), and a features file that is no workspace."""
    write_workspace(tmp_path, record(), step=10, used=NOW - 3600)
    write_workspace(tmp_path, record(batch_size=32), step=4, used=NOW - 60)
    (tmp_path / "train-0123.npz").write_bytes(b"x")
    return tmp_path


def test_workspaces_are_listed_most_recently_used_first(root):
    found = ws.workspaces(root)
    assert [w.name for w in found] == [ws.workspace_name(record(batch_size=32)),
                                       ws.workspace_name(record())]  # fmt: skip
    assert [(w.step, w.total_steps) for w in found] == [(4, 10), (10, 10)]
    oldest = root / found[1].name
    held = [oldest / "recipe.json", oldest / "checkpoints/checkpoint",
            oldest / "checkpoints/ckpt-10.index"]  # fmt: skip
    assert (found[1].files, found[1].bytes) == (3, sum(f.stat().st_size for f in held))
    assert ws.workspaces(root / "missing") == []


def test_the_listing_marks_the_most_recently_used(root):
    lines = ws.listing(ws.workspaces(root)).splitlines()
    assert lines[0].split() == ["workspace", "step", "last", "used", "size", "architecture",
                                "weights", "batch", "train", "images"]  # fmt: skip
    newest, oldest = (line.split() for line in lines[1:])
    assert newest[0] == "*" and newest[1:3] == [ws.workspace_name(record(batch_size=32)), "4/10"]
    assert oldest[0] == ws.workspace_name(record()) and oldest[1] == "10/10"
    assert newest[-4:] == ["R14x0.25", "random", "32", "96"]


def test_the_same_recipe_gets_its_folder_back_silently(root, caplog):
    with caplog.at_level(logging.INFO):
        folder = ws.recipe_workspace(root, record(), resume=True, chief=True)
    assert folder == root / ws.workspace_name(record())
    assert caplog.records == []


def test_a_new_recipe_says_what_changed_since_the_last_used_workspace(root, caplog):
    with caplog.at_level(logging.INFO):
        folder = ws.recipe_workspace(root, record(batch_size=64), resume=True, chief=True)
    assert folder == root / ws.workspace_name(record(batch_size=64)) and not folder.exists()
    (line,) = caplog.messages
    assert line == (
        f"New recipe: training from scratch in {folder} (changed since "
        f"{ws.workspace_name(record(batch_size=32))}: hyperrule.batch_size: 32 -> 64); the "
        "earlier workspace is kept"
    )


def test_the_first_recipe_says_nothing(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        ws.recipe_workspace(tmp_path, record(), resume=True, chief=True)
    assert caplog.records == []


def test_resume_false_moves_the_folder_aside_on_the_chief_only(root, caplog):
    folder = root / ws.workspace_name(record())
    assert ws.recipe_workspace(root, record(), resume=False, chief=False) == folder
    assert folder.is_dir()  # a worker moves nothing
    with caplog.at_level(logging.INFO):
        assert ws.recipe_workspace(root, record(), resume=False, chief=True) == folder
    assert not folder.exists()
    (aside,) = root.glob(f"{folder.name}.*")
    assert re.fullmatch(rf"{re.escape(folder.name)}\.\d{{8}}T\d{{6}}", aside.name)
    assert ws.latest_step(aside) == 10
    (line,) = caplog.messages
    assert line == (
        f"training.resume is false: training from scratch in {folder} (the earlier one is "
        f"kept as {aside.name})"
    )
    assert aside.name in {w.name for w in ws.workspaces(root)}  # still a workspace


def test_moving_aside_twice_in_a_second_keeps_both(tmp_path):
    first = tmp_path / "R14x0.25-abc"
    first.mkdir()
    moved = ws.move_aside(first)
    first.mkdir()
    again = ws.move_aside(first)
    assert again.name.startswith(moved.name) and again != moved
    assert moved.is_dir() and again.is_dir()


def test_remove_deletes_the_folders_and_counts_the_bytes(root):
    older = ws.workspaces(root)[1:]
    assert ws.remove(older) == older[0].bytes
    assert [w.name for w in ws.workspaces(root)] == [ws.workspace_name(record(batch_size=32))]
    assert (root / "train-0123.npz").exists()
