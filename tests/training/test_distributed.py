"""Real multi-replica runs: MirroredStrategy over two logical CPUs, and two
MultiWorkerMirroredStrategy worker processes on this machine."""

from __future__ import annotations

import numpy as np
import pytest

from tests.training.processes import finish, free_ports, run, start, tf_config, weights

pytestmark = pytest.mark.slow

ONE_STEP = ("--steps", "1", "--warmup", "0", "--shuffle-buffer", "1")


MIRRORED = ("--strategy", "mirrored", "--logical-cpus", "2")
SINGLE = ("--strategy", "default")


def one_step(tmp_path, name: str, *options: str) -> dict:
    """One training step in a process of its own, in ``tmp_path / name``."""
    return run(tmp_path / name, tmp_path / f"{name}.npz", *ONE_STEP, *options)


def test_mirrored_step_equals_a_single_device_step(tmp_path):
    """Two replicas with half batches each, averaged over the global batch, make the
    same update as one device with the whole batch (same examples, same augmentation)."""
    mirrored = one_step(tmp_path, "m", *MIRRORED)
    assert "Strategy mirrored with 2 replica(s)" in mirrored["log"]
    single = one_step(tmp_path, "s", *SINGLE)
    untrained = run(tmp_path / "u", tmp_path / "u.npz", "--steps", "0")
    assert int(mirrored["final_step"]) == 1
    for a, b in zip(weights(mirrored), weights(single)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(weights(mirrored), weights(untrained))), (
        "the step changed the weights"
    )


def test_mirrored_step_with_micro_batches_equals_a_whole_batch_step(tmp_path):
    """Two replicas, each summing the gradients of four micro-batches of 2, make the same
    update as one device with the whole batch of 16 at once."""
    accumulated = one_step(tmp_path, "m", *MIRRORED, "--micro-batch", "2")
    assert "4 micro-batches of 2 per replica" in accumulated["log"]
    whole = one_step(tmp_path, "s", *SINGLE)
    for a, b in zip(weights(accumulated), weights(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_multi_worker_run_keeps_workers_in_sync_and_only_the_chief_writes(tmp_path):
    workspace = tmp_path / "workspace"
    ports = free_ports(2)
    temps = [tmp_path / f"tmp{i}" for i in range(2)]
    workers = []
    for i, temp in enumerate(temps):
        temp.mkdir()
        workers.append(
            start(
                workspace,
                tmp_path / f"w{i}.npz",
                "--steps",
                "6",
                "--strategy",
                "auto",
                TF_CONFIG=tf_config(ports, i),
                TMPDIR=str(temp),
            )
        )
    logs = [finish(worker, timeout=400) for worker in workers]
    for log in logs:
        assert "Strategy multi_worker with 2 replica(s)" in log
    chief, other = (dict(np.load(tmp_path / f"w{i}.npz")) for i in range(2))
    assert int(chief["final_step"]) == int(other["final_step"]) == 6
    for a, b in zip(weights(chief), weights(other)):
        np.testing.assert_array_equal(a, b)

    assert sorted(p.name for p in workspace.iterdir()) == [
        "checkpoints",
        "history.csv",
        "recipe.json",
        "tensorboard",
    ]
    (events,) = (workspace / "tensorboard").iterdir()
    assert events.name.split(".")[-3] == str(workers[0].pid)  # the chief wrote it
    assert (workspace / "checkpoints" / "ckpt-6.index").exists()
    assert list(temps[1].iterdir()) == []  # the other worker's private saves are gone
