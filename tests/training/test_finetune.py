"""finetune trains in the recipe's own folder under the workspace root: the same recipe
resumes there, another recipe starts a folder of its own and leaves the earlier ones as
they are, and ``training.resume: false`` starts afresh beside the old folder (R14x0.25
at 32x32, six steps)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_project import recipe_folder

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.training.finetune import finetune
from bit_finetune.training.loop import TrainingResult
from tests.training.tiny import COLOUR_SIZE, colour_shards, tiny_params, tiny_recipe

RECIPE = tiny_recipe(resize_size=COLOUR_SIZE, crop_size=32, batch_size=8, total_steps=6,
                     lr_boundaries=[4, 5, 5], train_examples=48)  # fmt: skip
COUNTS = {"train": 48}
WORKSPACE_FILES = ["checkpoints", "history.csv", "precision.json", "recipe.json",
                   "tensorboard"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return colour_shards(tmp_path_factory.mktemp("shards") / "set", COUNTS)


def fine_tune(shards: Any, root: Path, recipe: dict[str, Any] = RECIPE,
              **params: Any) -> TrainingResult:  # fmt: skip
    """``finetune`` of R14x0.25 in the workspace root ``root``, checkpoints every 3 steps."""
    settings = tiny_params(model={"architecture": "R14x0.25"}, checkpoint_every=3, log_every=3,
                           **params)  # fmt: skip
    return finetune(lambda: build_classifier("R14x0.25", 3), shards, recipe, settings,
                    root, root.parent / "features")  # fmt: skip


def stamps(folder: Path) -> dict[str, int]:
    """Modification time of every file under ``folder`` but recipe.json (rewritten at each
    start), by relative path."""
    return {str(f.relative_to(folder)): f.stat().st_mtime_ns for f in folder.rglob("*")
            if f.is_file() and f.name != "recipe.json"}  # fmt: skip


def folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def new_recipe_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [m for m in caplog.messages if m.startswith("New recipe")]


@pytest.fixture(scope="module")
def first(shards, tmp_path_factory) -> tuple[Path, TrainingResult]:
    """A workspace root after a finished six-step training."""
    root = tmp_path_factory.mktemp("first") / "training"
    return root, fine_tune(shards, root)


@pytest.fixture()
def root(first, tmp_path) -> Path:
    """A copy of the first training's root (file times kept), free to change."""
    return Path(shutil.copytree(first[0], tmp_path / "training"))


def test_the_first_training_has_a_folder_named_by_its_recipe(first):
    root, result = first
    folder = recipe_folder(root)
    assert folder.name.startswith("R14x0.25-") and len(folder.name) == len("R14x0.25-") + 12
    assert (result.start_step, result.final_step) == (0, 6)
    assert folders(folder) == WORKSPACE_FILES


def test_the_same_recipe_restores_a_finished_training(shards, first, root, caplog):
    before = stamps(recipe_folder(root))
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        again = fine_tune(shards, root)
    assert (again.start_step, again.final_step) == (6, 6)
    assert "restored, not retrained" in caplog.text and not new_recipe_lines(caplog)
    for a, b in zip(again.model.get_weights(), first[1].model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert stamps(recipe_folder(root)) == before


def test_the_same_recipe_resumes_from_its_latest_checkpoint(shards, root, caplog):
    """As after a kill between the checkpoints of steps 3 and 6."""
    folder = recipe_folder(root)
    for late in (folder / "checkpoints").glob("ckpt-6.*"):
        late.unlink()
    (folder / "checkpoints/checkpoint").write_text(
        'model_checkpoint_path: "ckpt-3"\nall_model_checkpoint_paths: "ckpt-3"\n'
    )
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        resumed = fine_tune(shards, root)
    assert (resumed.start_step, resumed.final_step) == (3, 6)
    assert f"Resuming from {folder / 'checkpoints/ckpt-3'} at step 3" in caplog.text
    assert "No validation examples: training runs without validation" in caplog.text
    assert resumed.history["step"].tolist() == [3, 6]
    assert folders(root) == [folder.name]


CHANGES = {
    "batch_size": ("hyperrule.batch_size: 8 -> 16", {"recipe": {**RECIPE, "batch_size": 16}}),
    "seed": ("seed: 0 -> 1", {"seed": 1}),
    "data": ("data.files changed", {}),  # the same counts, other images
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_recipe_trains_in_a_new_folder_and_changing_back_restores_the_first(
    shards, root, tmp_path, caplog, change
):
    changed, options = CHANGES[change]
    data = colour_shards(tmp_path / "other", COUNTS, seed=1) if change == "data" else shards
    earlier = recipe_folder(root)
    before = stamps(earlier)
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        result = fine_tune(data, root, **options)
    assert (result.start_step, result.final_step) == (0, 6)
    (new,) = set(folders(root)) - {earlier.name}
    (line,) = new_recipe_lines(caplog)
    assert line == (
        f"New recipe: training from scratch in {root / new} (changed since {earlier.name}: "
        f"{changed}); the earlier workspace is kept"
    )
    assert stamps(earlier) == before  # untouched: every checkpoint still there

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        back = fine_tune(shards, root)
    assert (back.start_step, back.final_step) == (6, 6)
    assert "restored, not retrained" in caplog.text and not new_recipe_lines(caplog)
    assert stamps(earlier) == before and folders(root) == sorted([earlier.name, new])


def test_resume_false_moves_the_folder_aside_and_trains_from_step_0(shards, root, caplog):
    earlier = recipe_folder(root)
    before = stamps(earlier)
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        result = fine_tune(shards, root, resume=False)
    assert (result.start_step, result.final_step) == (0, 6)
    assert "Resuming" not in caplog.text and "restored" not in caplog.text
    (aside,) = set(folders(root)) - {earlier.name}
    assert aside.startswith(f"{earlier.name}.20")
    assert stamps(root / aside) == before  # kept as it was
    assert folders(earlier) == WORKSPACE_FILES
    assert result.history["step"].tolist() == [3, 6]
