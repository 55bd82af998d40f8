"""Validation during training: at which steps it runs, that it measures what an
independent evaluation measures, where it shows, and that training is the same with it
on or off (the tiny model on colour shards)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from bit_finetune.training.history import HISTORY_COLUMNS, read_history
from bit_finetune.training.inputs import TrainData
from bit_finetune.training.loop import train
from bit_finetune.training.validation import (
    ValidationData,
    validation_examples,
    validation_interval,
    validator,
)
from tests.training.test_loop import summary_tags
from tests.training.tiny import (
    CROP,
    colour_shards,
    evaluated,
    tiny_model,
    tiny_params,
    tiny_recipe,
)

# 42 steps, a history row every 2: auto validates every 4 steps (42 / 10, as a multiple
# of 2), and at the last step.
RECIPE = tiny_recipe(total_steps=42, lr_boundaries=[30, 36, 40])
AUTO_STEPS = [*range(4, 41, 4), 42]
SKIPPED = "No validation examples: training runs without validation"


@pytest.mark.parametrize(
    ("setting", "total_steps", "log_every", "every"),
    [("auto", 500, 10, 50), ("auto", 1000, 10, 100), ("auto", 42, 2, 4), ("auto", 12, 1, 1),
     ("auto", 6, 3, 3), ("auto", 95, 10, 10), (7, 500, 10, 7), (None, 500, 10, None)],
)  # fmt: skip
def test_validation_interval(setting, total_steps, log_every, every):
    assert validation_interval(setting, total_steps, log_every) == every


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """48 train and 21 validation images (21: the last validation batch is partial)."""
    return colour_shards(tmp_path_factory.mktemp("shards") / "set", {"train": 48, "validation": 21})


class Lines(logging.Handler):
    """The messages of the records it handles."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def fit(shards, workspace, recipe=RECIPE, validation=True, **params):
    """``train`` of the tiny model on the colour shards, validating on their validation
    split (unless ``validation`` is false); its result and its INFO log lines."""
    held_out = ValidationData.from_shards(shards, CROP) if validation else None
    logger, lines = logging.getLogger("bit_finetune"), Lines()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(lines)
    try:
        result = train(tiny_model, TrainData.from_shards(shards), recipe, tiny_params(**params),
                       workspace, validation=held_out)  # fmt: skip
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return result, lines.messages


@pytest.fixture(scope="module")
def runs(shards, tmp_path_factory):
    """The same training with validation auto and off: {setting: (workspace, result, log)}."""
    return {
        setting: (workspace := tmp_path_factory.mktemp(f"eval-{setting}"),
                  *fit(shards, workspace, eval_every=setting))
        for setting in ("auto", None)
    }  # fmt: skip


def validation_lines(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith("Validation at")]


def test_auto_validates_about_ten_times_and_at_the_last_step(runs):
    workspace, result, log = runs["auto"]
    history = result.history
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["step"].tolist() == list(range(2, 43, 2))
    validated = history.dropna(subset=["val_accuracy"])
    assert validated["step"].tolist() == AUTO_STEPS
    assert validated["val_loss"].notna().all() and validated["val_accuracy"].between(0, 1).all()
    lines = validation_lines(log)
    assert len(lines) == len(AUTO_STEPS)
    last = validated.iloc[-1]
    assert lines[-1] == (
        f"Validation at step 42/42: top-1 {last['val_accuracy']:.3f}, loss {last['val_loss']:.3f}"
    )
    tags = summary_tags(workspace / "tensorboard")
    assert tags["val_loss"] == tags["val_accuracy"] == AUTO_STEPS
    assert tags["loss"] == list(range(2, 43, 2))


def test_the_last_point_equals_an_evaluation_of_the_final_model(runs, shards):
    _, result, _ = runs["auto"]
    last = result.history.iloc[-1]
    accuracy, loss = evaluated(result.model, shards, CROP)
    assert last["val_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert last["val_loss"] == pytest.approx(loss, rel=1e-3)  # log(softmax) in float32
    assert result.history["val_loss"].iloc[-1] < result.history["val_loss"].dropna().iloc[0]


def test_validation_leaves_training_as_it_was(runs):
    """The same loss curve, accuracy, schedule and final weights with validation off."""
    (_, on, _), (_, off, _) = runs["auto"], runs[None]
    for column in ("step", "loss", "accuracy", "learning_rate"):
        assert on.history[column].tolist() == off.history[column].tolist(), column
    for a, b in zip(on.model.get_weights(), off.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_off_when_eval_every_is_null(runs):
    workspace, result, log = runs[None]
    assert list(result.history.columns) == HISTORY_COLUMNS
    assert result.history[["val_loss", "val_accuracy"]].isna().all().all()
    assert not validation_lines(log) and SKIPPED not in log
    tags = summary_tags(workspace / "tensorboard")
    assert "val_loss" not in tags and "val_accuracy" not in tags


def test_an_explicit_interval_adds_history_rows_at_its_steps(shards, tmp_path):
    recipe = tiny_recipe(total_steps=10)
    result, log = fit(shards, tmp_path, recipe=recipe, eval_every=3)
    history = result.history
    assert history["step"].tolist() == [2, 3, 4, 6, 8, 9, 10]
    assert history.dropna(subset=["val_accuracy"])["step"].tolist() == [3, 6, 9, 10]
    assert len(validation_lines(log)) == 4
    saved = pd.read_csv(tmp_path / "history.csv")
    pd.testing.assert_frame_equal(saved, history, check_dtype=False)


def test_skipped_with_one_line_without_validation_examples(shards, tmp_path):
    result, log = fit(shards, tmp_path, recipe=tiny_recipe(total_steps=4),
                      validation=False)  # fmt: skip
    assert log.count(SKIPPED) == 1 and not validation_lines(log)
    assert result.history[["val_loss", "val_accuracy"]].isna().all().all()


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_every_pass_runs_the_graph_traced_once(shards, jit):
    """Passes over full and partial batches (8, 8 and 5 of 21) reuse one trace."""
    model, traces = tiny_model(), []

    def traced(images, training):
        traces.append(training)
        return model(images, training=training)

    data = ValidationData.from_shards(shards, CROP)
    validate = validator(traced, data, tf.distribute.get_strategy(), batch_size=8, jit=jit)
    first = validate()
    assert [validate() for _ in range(2)] == [first, first]
    assert traces == [False]  # one trace, in inference mode
    accuracy, loss = evaluated(model, shards, CROP)
    assert first.accuracy == pytest.approx(accuracy, abs=1e-9)
    assert first.loss == pytest.approx(loss, rel=1e-5)


def test_validation_examples_counts_a_missing_or_empty_split_as_none(shards, tmp_path):
    assert validation_examples(shards) == 21
    assert validation_examples(colour_shards(tmp_path / "a", {"train": 8})) == 0
    assert validation_examples(colour_shards(tmp_path / "b", {"train": 8, "validation": 0})) == 0


def test_a_resumed_run_keeps_the_validation_history(runs, shards, tmp_path):
    """As after a kill between the checkpoints of steps 36 and 40."""
    workspace = shutil.copytree(runs["auto"][0], tmp_path / "workspace")
    for late in (workspace / "checkpoints").glob("ckpt-*.*"):
        if int(late.name.split(".")[0].removeprefix("ckpt-")) > 36:
            late.unlink()
    (workspace / "checkpoints/checkpoint").write_text(
        'model_checkpoint_path: "ckpt-36"\nall_model_checkpoint_paths: "ckpt-36"\n'
    )
    result, log = fit(shards, workspace, eval_every="auto")
    assert result.start_step == 36
    first = runs["auto"][1].history
    pd.testing.assert_frame_equal(result.history.iloc[:18], first.iloc[:18])
    assert result.history.dropna(subset=["val_accuracy"])["step"].tolist() == AUTO_STEPS
    assert len(validation_lines(log)) == 2  # steps 40 and 42


def test_a_history_written_before_validation_reads_back_with_its_columns(tmp_path):
    pd.DataFrame({"step": [2, 4], "loss": [1.0, 0.5], "learning_rate": [0.1, 0.1],
                  "accuracy": [0.5, 0.7], "images_per_second": [10.0, 11.0]}).to_csv(
        tmp_path / "history.csv", index=False)  # fmt: skip
    history = read_history(tmp_path, 4)
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["val_accuracy"].isna().all() and len(history) == 2
