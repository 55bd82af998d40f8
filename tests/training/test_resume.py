"""Kill a training process after a checkpoint, rerun, and land exactly on total_steps."""

from __future__ import annotations

import signal
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

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
