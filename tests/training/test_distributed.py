"""Real multi-replica runs: MirroredStrategy over two logical CPUs, and two
MultiWorkerMirroredStrategy worker processes on this machine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.training.processes import finish, free_ports, run, start, tf_config, weights
from tests.training.tiny import colour_shards

pytestmark = pytest.mark.slow

ONE_STEP = ("--steps", "1", "--warmup", "0", "--shuffle-buffer", "1")


MIRRORED = ("--strategy", "mirrored", "--logical-cpus", "2")
SINGLE = ("--strategy", "default")


@pytest.fixture(scope="module")
def validation_shards(tmp_path_factory) -> str:
    """A shard set of 21 validation images: the last batch is partial and splits unevenly."""
    folder = tmp_path_factory.mktemp("shards") / "set"
    colour_shards(folder, {"validation": 21})
    return str(folder)


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


def test_mirrored_validation_equals_single_device_validation(tmp_path, validation_shards):
    """Each replica scores its share of each validation batch; the sums over the replicas
    give the scores one device gives on the whole batches (after the same step)."""
    options = ("--validation-shards", validation_shards, "--eval-every", "1")
    mirrored = one_step(tmp_path, "m", *MIRRORED, *options)
    single = one_step(tmp_path, "s", *SINGLE, *options)
    assert "Validation at step 1/1" in mirrored["log"]
    assert "retracing" not in mirrored["log"] and "Warning" not in mirrored["log"]
    for key in ("val_loss", "val_accuracy"):
        assert np.isfinite(mirrored[key]).all()
        np.testing.assert_allclose(mirrored[key], single[key], rtol=1e-5)


def test_multi_worker_run_keeps_workers_in_sync_and_only_the_chief_writes(
    tmp_path, validation_shards
):
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
                "--validation-shards",
                validation_shards,
                "--eval-every",
                "3",
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
    for key in ("val_loss", "val_accuracy"):  # every worker took part in each pass
        np.testing.assert_array_equal(chief[key], other[key])
    validated = pd.read_csv(workspace / "history.csv").dropna(subset=["val_accuracy"])
    assert validated["step"].tolist() == [3, 6]

    assert sorted(p.name for p in workspace.iterdir()) == [
        "checkpoints",
        "history.csv",
        "precision.json",
        "recipe.json",
        "tensorboard",
    ]
    (events,) = (workspace / "tensorboard").iterdir()
    assert events.name.split(".")[-3] == str(workers[0].pid)  # the chief wrote it
    assert (workspace / "checkpoints" / "ckpt-6.index").exists()
    assert list(temps[1].iterdir()) == []  # the other worker's private saves are gone
