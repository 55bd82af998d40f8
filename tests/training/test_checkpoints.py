"""Checkpoints: the latest step from the state file; a training killed after a checkpoint
resumes to land exactly on total_steps; damaged checkpoints are skipped and kept."""

from __future__ import annotations

import signal
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from bit_finetune.training.checkpoints import latest_step
from tests.training.processes import run, start

pytestmark = pytest.mark.slow

TOTAL = 60


@pytest.mark.parametrize("accumulation", [(), ("--micro-batch", "4")], ids=["whole", "micro"])
def test_sigkilled_run_resumes_from_its_checkpoint(tmp_path, accumulation):
    """Also with gradient accumulation: a kill between micro-batches loses only the
    unfinished step, as the accumulated gradients are never part of a checkpoint."""
    workspace = tmp_path / "workspace"
    options = ("--steps", str(TOTAL), "--checkpoint-every", "4", *accumulation)
    # ~10 ms per example keeps the first run busy long after its first checkpoint.
    victim = start(workspace, tmp_path / "killed.npz", *options, "--delay", "0.01")
    index = workspace / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + 240
    while not index.exists():
        assert victim.poll() is None, victim.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.npz").exists()

    latest = tf.train.latest_checkpoint(str(workspace / "checkpoints"))
    saved_step = int(latest.rsplit("-", 1)[1])
    assert 0 < saved_step < TOTAL

    resumed = run(workspace, tmp_path / "resumed.npz", *options)
    assert int(resumed["start_step"]) == saved_step
    assert int(resumed["final_step"]) == TOTAL
    assert f"Resuming from {latest} at step {saved_step}" in resumed["log"]
    steps = resumed["history_steps"].tolist()
    assert steps == list(range(2, TOTAL + 1, 2))  # the history spans both runs, once
    assert pd.read_csv(workspace / "history.csv")["step"].tolist() == steps
    assert tf.train.latest_checkpoint(str(workspace / "checkpoints")).endswith(f"ckpt-{TOTAL}")

    again = run(workspace, tmp_path / "again.npz", *options)
    assert int(again["start_step"]) == int(again["final_step"]) == TOTAL
    assert "restored, not retrained" in again["log"]
    for key in (k for k in resumed if k.startswith("w")):
        np.testing.assert_array_equal(again[key], resumed[key])


STEPS = ("--steps", "8", "--checkpoint-every", "2")  # keeps ckpt-4, ckpt-6 and ckpt-8


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple:
    """A workspace trained to step 8, and the weights of that run."""
    folder = tmp_path_factory.mktemp("trained")
    result = run(folder / "workspace", folder / "done.npz", *STEPS)
    return folder / "workspace", result


def copy_of(trained, tmp_path):
    import shutil

    return shutil.copytree(trained[0], tmp_path / "workspace")


def cut_in_half(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_damaged_newest_checkpoint_is_reported_and_an_older_one_used(trained, tmp_path):
    workspace = copy_of(trained, tmp_path)
    checkpoints = workspace / "checkpoints"
    (data,) = checkpoints.glob("ckpt-8.data-*")
    cut_in_half(data)
    resumed = run(workspace, tmp_path / "resumed.npz", *STEPS)
    assert f"Checkpoint {checkpoints / 'ckpt-8'} cannot be read (" in resumed["log"]
    assert int(resumed["start_step"]) == 6 and int(resumed["final_step"]) == 8
    assert [p.name.rsplit(".", 1)[0] for p in sorted((checkpoints / "damaged").iterdir())] == [
        data.name, "ckpt-8.index"]  # moved aside, not deleted
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-8")  # trained again


@pytest.mark.parametrize("state", ["garbage", "missing"])
def test_an_unreadable_or_missing_state_file_resumes_from_the_files(trained, tmp_path, state):
    workspace = copy_of(trained, tmp_path)
    index = workspace / "checkpoints/checkpoint"
    if state == "garbage":
        index.write_bytes(b"\x00\xff model_checkpoint_path: {{{")
    else:
        index.unlink()
    again = run(workspace, tmp_path / "again.npz", *STEPS)
    assert int(again["start_step"]) == 8  # restored from ckpt-8, not retrained
    assert "resuming from the checkpoint files beside it" in again["log"]
    for key in (k for k in trained[1] if k.startswith("w")):
        np.testing.assert_array_equal(again[key], trained[1][key])


def test_no_readable_checkpoint_starts_over_with_a_warning(trained, tmp_path):
    workspace = copy_of(trained, tmp_path)
    for data in (workspace / "checkpoints").glob("ckpt-*.data-*"):
        cut_in_half(data)
    fresh = run(workspace, tmp_path / "fresh.npz", *STEPS)
    assert "No checkpoint in" in fresh["log"] and "training starts over from step 0" in fresh["log"]
    assert int(fresh["start_step"]) == 0 and int(fresh["final_step"]) == 8
    assert len(list((workspace / "checkpoints/damaged").iterdir())) == 6


def test_latest_step_reads_the_checkpoint_state_file(tmp_path):
    assert latest_step(tmp_path) == 0
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints/checkpoint").write_text(
        'model_checkpoint_path: "/shared/ws/checkpoints/ckpt-300"\n'
        'all_model_checkpoint_paths: "/shared/ws/checkpoints/ckpt-200"\n'
        'all_model_checkpoint_paths: "/shared/ws/checkpoints/ckpt-300"\n'
    )
    assert latest_step(tmp_path) == 300
