"""The training loop in-process: history, checkpoints, logs, resume rules, precision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.errors import ConfigError
from bit_finetune.hyperrule import HyperRule
from bit_finetune.training.history import HISTORY_COLUMNS
from bit_finetune.training.loop import image_grid, train
from bit_finetune.training.recipe import recipe_record
from tests.training.tiny import (
    CROP,
    tiny_arrays,
    tiny_data,
    tiny_model,
    tiny_params,
    tiny_recipe,
)


def summary_tags(folder: Path) -> dict[str, list[int]]:
    """Tag -> steps of every summary in the event files under ``folder``."""
    tags: dict[str, list[int]] = {}
    for events in folder.glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(events)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A completed 10-step run (checkpoint every 4, log every 2)."""
    workspace = tmp_path_factory.mktemp("workspace")
    result = train(tiny_model, tiny_data(), tiny_recipe(), tiny_params(), workspace)
    return workspace, result


def test_history_has_a_row_per_log_point(finished):
    _, result = finished
    history = result.history
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["step"].tolist() == [2, 4, 6, 8, 10]
    assert (history["images_per_second"] > 0).all()
    assert history["accuracy"].between(0, 1).all()
    # LR of each window's last step (index step - 1): warmup 0.05 at index 1, then 0.1,
    # /10 after boundary 6 (index 7), /100 after boundary 8 (index 9).
    np.testing.assert_allclose(history["learning_rate"], [0.05, 0.1, 0.1, 0.01, 0.001], rtol=1e-6)
    assert (result.start_step, result.final_step) == (0, 10)


def test_workspace_holds_checkpoints_recipe_history_and_tensorboard(finished):
    workspace, _ = finished
    checkpoints = workspace / "checkpoints"
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-10")
    assert {p.name.split(".")[0] for p in checkpoints.glob("ckpt-*.index")} == {
        "ckpt-4",
        "ckpt-8",
        "ckpt-10",
    }
    recipe = json.loads((workspace / "recipe.json").read_text())
    assert len(recipe["sha256"]) == 64 and recipe["hyperrule"]["total_steps"] == 10
    saved = (workspace / "history.csv").read_text().splitlines()
    assert saved[0] == ",".join(HISTORY_COLUMNS) and len(saved) == 6
    tags = summary_tags(workspace / "tensorboard")
    for name in ("loss", "learning_rate", "accuracy", "images_per_second"):
        assert tags[name] == [2, 4, 6, 8, 10]
    assert tags["mixup_sample"] == [1]


def test_training_learns_the_tiny_task(tmp_path):
    recipe = tiny_recipe(total_steps=40, lr_boundaries=[30, 35, 38])
    result = train(tiny_model, tiny_data(), recipe, tiny_params(), tmp_path)
    images, labels = tiny_arrays(64, seed=9)
    logits = result.model(tf.image.resize(images, [CROP, CROP]) / 255.0)
    assert (np.argmax(logits, -1) == labels).mean() > 0.9
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]


def test_a_finished_run_is_restored_not_retrained(finished):
    workspace, first = finished
    stamps = {p.name: p.stat().st_mtime_ns for p in (workspace / "checkpoints").iterdir()}
    again = train(tiny_model, tiny_data(), tiny_recipe(), tiny_params(), workspace)
    assert (again.start_step, again.final_step) == (10, 10)
    for a, b in zip(again.model.get_weights(), first.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again.history.equals(first.history)
    assert {p.name: p.stat().st_mtime_ns for p in (workspace / "checkpoints").iterdir()} == stamps


def test_runtime_settings_resume_the_same_folder(finished):
    workspace, _ = finished
    params = tiny_params(log_every=5, checkpoint_every=3, shuffle_buffer=3, micro_batch_size=4)
    assert train(tiny_model, tiny_data(), tiny_recipe(), params, workspace).start_step == 10


def test_resume_false_restores_nothing(finished, tmp_path):
    workspace = shutil.copytree(finished[0], tmp_path / "workspace")
    params = tiny_params(resume=False)
    result = train(tiny_model, tiny_data(), tiny_recipe(total_steps=2), params, workspace)
    assert (result.start_step, result.final_step) == (0, 2)
    assert result.history["step"].tolist() == [2]


def test_recipe_json_is_rewritten_at_each_start(tmp_path):
    (tmp_path / "recipe.json").write_text(json.dumps({"sha256": "old"}))
    recipe, params = tiny_recipe(total_steps=2), tiny_params()
    result = train(tiny_model, tiny_data(), recipe, params, tmp_path)
    assert result.final_step == 2
    saved = json.loads((tmp_path / "recipe.json").read_text())
    assert saved == recipe_record(HyperRule.of(recipe), params, None)


def test_batch_must_split_over_replicas(tmp_path):
    three = SimpleNamespace(
        num_replicas_in_sync=3, extended=SimpleNamespace(worker_devices=("/cpu:0",) * 3)
    )
    with pytest.raises(ConfigError, match="hyperrule.batch_size: 16 .* multiple of 3"):
        train(tiny_model, tiny_data(), tiny_recipe(), tiny_params(), tmp_path, strategy=three)


def test_float16_uses_loss_scaling_and_xla_compiles(tmp_path):
    params = tiny_params(mixed_precision="float16", xla="on")
    result = train(tiny_model, tiny_data(), tiny_recipe(total_steps=3), params, tmp_path)
    assert result.final_step == 3
    assert result.model.layers[1].compute_dtype == "float16"
    assert all(np.isfinite(w).all() for w in result.model.get_weights())
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


@pytest.mark.parametrize("mixup_alpha", [0.0, 0.1])
def test_micro_batches_make_the_whole_batch_update(tmp_path, mixup_alpha):
    """Three steps with four micro-batches of 4 land on the weights and losses of three
    steps with the whole batch of 16 (MixUp pairs within the whole batch either way)."""
    recipe = tiny_recipe(total_steps=3, mixup_alpha=mixup_alpha)
    runs = {
        size: train(
            tiny_model, tiny_data(), recipe, tiny_params(micro_batch_size=size), tmp_path / str(size)
        )
        for size in (None, 4)
    }
    whole, micro = runs[None], runs[4]
    for a, b in zip(whole.model.get_weights(), micro.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole.history["loss"], micro.history["loss"], rtol=1e-5)
    assert whole.history["accuracy"].tolist() == micro.history["accuracy"].tolist()


def test_a_micro_batch_must_split_the_batch(tmp_path):
    with pytest.raises(ConfigError, match=r"micro_batch_size: 5 .* use one of \[16, 8, 4, 2, 1"):
        train(tiny_model, tiny_data(), tiny_recipe(), tiny_params(micro_batch_size=5), tmp_path)


def test_image_grid_tiles_row_by_row():
    images = tf.reshape(tf.range(5, dtype=tf.float32), [5, 1, 1, 1]) * tf.ones([5, 2, 3, 1])
    grid = image_grid(images, side=2).numpy()
    assert grid.shape == (4, 6, 1)
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 1 and grid[2, 0, 0] == 2
    assert grid[2, 3, 0] == 3  # item 4 falls outside a 2x2 grid
