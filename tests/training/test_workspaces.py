"""Per-recipe workspaces without training: picking and moving folders, listing and
removing them."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

from bit_finetune.training import workspaces as ws
from bit_finetune.training.recipe import workspace_name
from tests.training.hand_made import TRAIN_SPLIT, record, write_workspace

NOW = time.time()
OTHER_DATA = {**TRAIN_SPLIT, "files": [{**TRAIN_SPLIT["files"][0], "sha256": "cd" * 32}]}


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
    assert [w.name for w in found] == [workspace_name(record(batch_size=32)),
                                       workspace_name(record())]  # fmt: skip
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
    assert newest[0] == "*" and newest[1:3] == [workspace_name(record(batch_size=32)), "4/10"]
    assert oldest[0] == workspace_name(record()) and oldest[1] == "10/10"
    assert newest[-4:] == ["R14x0.25", "random", "32", "96"]


def test_the_same_recipe_gets_its_folder_back_silently(root, caplog):
    with caplog.at_level(logging.INFO):
        folder = ws.recipe_workspace(root, record(), resume=True, chief=True)
    assert folder == root / workspace_name(record())
    assert caplog.records == []


def test_a_new_recipe_says_what_changed_since_the_last_used_workspace(root, caplog):
    with caplog.at_level(logging.INFO):
        folder = ws.recipe_workspace(root, record(batch_size=64), resume=True, chief=True)
    assert folder == root / workspace_name(record(batch_size=64)) and not folder.exists()
    (line,) = caplog.messages
    assert line == (
        f"New recipe: training from scratch in {folder} (changed since "
        f"{workspace_name(record(batch_size=32))}: hyperrule.batch_size: 32 -> 64); the "
        "earlier workspace is kept"
    )


def test_the_first_recipe_says_nothing(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        ws.recipe_workspace(tmp_path, record(), resume=True, chief=True)
    assert caplog.records == []


def test_resume_false_moves_the_folder_aside_on_the_chief_only(root, caplog):
    folder = root / workspace_name(record())
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
    assert [w.name for w in ws.workspaces(root)] == [workspace_name(record(batch_size=32))]
    assert (root / "train-0123.npz").exists()
