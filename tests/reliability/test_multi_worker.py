"""Two workers of a cluster on 127.0.0.1, each a ``kedro run`` of the training pipeline:
only the chief writes to the catalog and to MLflow, and a worker that dies, freezes or
never starts fails the run with a clear error."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
import tensorflow as tf
from mlflow import MlflowClient
from tiny_project import (
    DATA_STAGES,
    KedroProcess,
    as_cli,
    copy_of,
    copy_project,
    files,
    recipe_folder,
    run_in_process,
    tiny,
    variant_environment,
)

from tests.training.processes import free_ports, tf_config

pytestmark = pytest.mark.slow

STEPS = 8
FAIL_WITHIN = 120  # seconds from the death of a worker to the end of the other
START_TIMEOUT = 5  # seconds: training.cluster_start_timeout when a worker never starts


@pytest.fixture(scope="module")
def prepared(staged_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's staged project, its HyperRule rederived for STEPS."""
    project = copy_of(staged_project, tmp_path_factory.mktemp("cluster") / "chief")
    run_in_process(project, tiny(STEPS), node_names=["hyperrule.derive_hyperrule"])
    return project


def cluster(prepared: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The chief's project, a worker's project and the shared workspace: both read the
    chief's shards and share the training workspace, as on a shared file system."""
    chief, worker = (shutil.copytree(prepared, tmp_path / name) for name in ("chief", "worker"))
    workspace = tmp_path / "shared/training"
    for project in (chief, worker):
        variant_environment(project / "conf", "cluster", catalog={
            "tfrecord_shards": {"type": "bit_finetune.catalog.TFRecordShardsDataset",
                                "path": str(chief / "data/05_model_input/shards")},
            "training_workspace": {"type": "bit_finetune.catalog.WorkspaceDataset",
                                   "path": str(workspace)},
        })
    return Path(chief), Path(worker), workspace


def start(chief: Path, worker: Path, tmp_path: Path, **variables: str) -> list[KedroProcess]:
    ports = free_ports(2)
    command = ["--env", "cluster", "--pipelines", "training",
               "--params", as_cli(tiny(STEPS, progress=True))]
    temps = [tmp_path / f"tmp{i}" for i in range(2)]
    for temp in temps:
        temp.mkdir(parents=True)
    return [KedroProcess(project, command, TF_CONFIG=tf_config(ports, i), TMPDIR=str(temp),
                         **variables)
            for i, (project, temp) in enumerate(zip((chief, worker), temps))]


def test_a_worker_runs_the_data_stages_privately(tmp_path, monkeypatch):
    """The same command on every host: a worker that is not the chief runs every node but
    keeps what it writes in a temporary folder of its own, deleted at the end."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 1))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "private"))
    (tmp_path / "private").mkdir()
    project = copy_project(tmp_path / "project")
    tempfile_dir = tempfile.tempdir
    tempfile.tempdir = None  # read TMPDIR again
    try:
        run_in_process(project, tiny(), pipeline_names=DATA_STAGES)
    finally:
        tempfile.tempdir = tempfile_dir
    assert files(project / "data") == {}
    left = [p.name for p in (tmp_path / "private").iterdir() if not p.name.startswith("pymp-")]
    assert left == []  # (pymp-: multiprocessing's own folder, removed at exit)


def test_only_the_chief_writes_to_the_catalog_and_tracks(prepared, tmp_path):
    chief, worker, workspace = cluster(prepared, tmp_path)
    before = files(worker / "data")
    processes = start(chief, worker, tmp_path, BIT_FINETUNE_TRACKING="on")
    outputs = [p.finish() for p in processes]
    for output in outputs:
        assert "Strategy multi_worker with 2 replica(s)" in output
    assert "Not the chief of the cluster" in outputs[1]
    assert files(worker / "data") == before  # no classifier, history, plot or run record
    assert list((tmp_path / "tmp1").iterdir()) == []  # nor anything in its temporary folder
    written = files(chief / "data")
    for artefact in ("06_models/classifier.keras", "06_models/serving/saved_model.pb",
                     "07_model_output/training_history.csv",
                     "08_reporting/training_curves.png"):
        assert artefact in written
    recipe = recipe_folder(workspace)  # one folder: both workers named the same
    assert sorted(p.name for p in workspace.iterdir()) == [recipe.name]
    assert sorted(p.name for p in recipe.iterdir()) == [
        "checkpoints", "history.csv", "precision.json", "recipe.json", "tensorboard"
    ]
    assert len(list((recipe / "tensorboard").iterdir())) == 1  # the chief's events
    assert tf.train.latest_checkpoint(str(recipe / "checkpoints")).endswith(f"-{STEPS}")

    assert not (worker / "mlruns.db").exists()  # one MLflow run for the cluster, the chief's
    client = MlflowClient(f"sqlite:///{chief / 'mlruns.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("cluster").experiment_id])
    assert run.info.status == "FINISHED"
    assert [p.step for p in client.get_metric_history(run.info.run_id, "loss")][-1] == STEPS


def lost_worker(leader: KedroProcess, recipe: Path, since: float) -> str:
    """The chief's output once it has stopped, as it must, soon after losing a worker."""
    leader.process.wait(timeout=FAIL_WITHIN)
    assert time.monotonic() - since < FAIL_WITHIN
    assert leader.process.returncode not in (0, None)
    output = " ".join(leader.output().split())
    assert "Error: training: lost another worker of the cluster at step" in output
    assert f"in '{recipe}': start all workers again with the same command" in output
    return output


def test_a_worker_that_dies_fails_the_run_with_a_clear_error(prepared, tmp_path):
    chief, worker, workspace = cluster(prepared, tmp_path)
    leader, other = start(chief, worker, tmp_path)
    leader.wait_for(rf"train:.*\|\s*[3-{STEPS - 1}]/{STEPS}\b")  # the chief's bar: mid-run
    other.kill()
    recipe = recipe_folder(workspace)
    lost_worker(leader, recipe, time.monotonic())
    assert not (chief / "data/06_models/classifier.keras").exists()
    saved = tf.train.latest_checkpoint(str(recipe / "checkpoints"))
    assert saved, "a checkpoint was written before the worker died"

    outputs = [p.finish() for p in start(chief, worker, tmp_path / "again")]
    assert f"Resuming from {saved}" in outputs[0]
    assert tf.train.latest_checkpoint(str(recipe / "checkpoints")).endswith(f"-{STEPS}")
    assert (chief / "data/06_models/classifier.keras").exists()


def test_a_worker_that_freezes_fails_the_run_with_a_clear_error(prepared, tmp_path):
    """A frozen worker keeps its connections open; its missed heartbeats give it away."""
    chief, worker, workspace = cluster(prepared, tmp_path)
    leader, other = start(chief, worker, tmp_path)
    leader.wait_for(rf"train:.*\|\s*[3-{STEPS - 1}]/{STEPS}\b")
    other.process.send_signal(signal.SIGSTOP)
    try:
        output = lost_worker(leader, recipe_folder(workspace), time.monotonic())
    finally:
        other.kill()
    assert "stopped sending heartbeats" in output


@pytest.mark.parametrize("started", [0, 1], ids=["leader-alone", "worker-alone"])
def test_a_worker_that_never_starts_fails_the_run_with_a_clear_error(prepared, tmp_path,
                                                                     started):
    """TF_CONFIG names two workers but only one starts: it stops soon after
    ``training.cluster_start_timeout``, naming the one that is missing."""
    chief, worker, _ = cluster(prepared, tmp_path)
    ports = free_ports(2)
    params = as_cli(tiny(STEPS, training__cluster_start_timeout=START_TIMEOUT))
    alone = KedroProcess((chief, worker)[started],
                         ["--env", "cluster", "--pipelines", "training", "--params", params],
                         TF_CONFIG=tf_config(ports, started))
    try:
        alone.wait_for(r"Running node: train_classifier")
        since = time.monotonic()
        alone.process.wait(timeout=START_TIMEOUT + FAIL_WITHIN)
    finally:
        alone.process.kill()
    assert time.monotonic() - since < START_TIMEOUT + FAIL_WITHIN
    output = " ".join(alone.output().split())
    assert alone.process.returncode not in (0, None), output[-4000:]
    missing = ("worker 1 (127.0.0.1:{}) never joined" if started == 0 else
               "the cluster's leader, worker 0 (127.0.0.1:{}), did not answer")
    assert (f"Error: training: the cluster in TF_CONFIG did not form within "
            f"{START_TIMEOUT} s (training.cluster_start_timeout): "
            f"{missing.format(ports[1 - started])}. Start every task listed in TF_CONFIG"
            ) in output
    assert not (chief / "data/06_models/classifier.keras").exists()
