"""MLflow tracking through kedro-mlflow: a tracked run read back from a real SQLite store,
a killed run resumed, the switch, the chief-only rule, a tracking server that does not
answer, and a store's runs read as one table (without a server, never creating a store)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from mlflow import MlflowClient
from tiny_project import (
    STEPS,
    TINY_PARAMS,
    KedroProcess,
    as_cli,
    copy_of,
    copy_project,
    kedro,
    run_in_process,
    tiny,
)
from tracked_store import DELETED, RUNS, write_store

from bit_finetune import tracking
from bit_finetune.errors import ConfigError, TrackingServerError

REPORTING = "data/08_reporting"
TOTAL_STEPS = 12
FIGURES = ("resolution_profile", "class_balance", "training_curves", "confusion_matrix",
           "worst_mistakes")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """A git-committed project copy after one tiny ``kedro run`` with tracking on."""
    project = tmp_path_factory.mktemp("tracked") / "project"
    copy_project(project)
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "a project"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *command],
                       cwd=project, check=True)
    result = kedro(["run", "--params", TINY_PARAMS], project, timeout=600,
                   BIT_FINETUNE_TRACKING="on")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    project.joinpath("run.log").write_text(result.stdout + result.stderr)
    return project


def store(project: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{project}/mlruns.db")


@pytest.mark.slow
def test_a_tracked_run_reads_back_from_its_store(tracked):
    client = store(tracked)
    experiment = client.get_experiment_by_name("digits")  # the environment's name
    (run,) = client.search_runs([experiment.experiment_id])
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "digits R14x0.25 random"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tracked, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert tags["mlflow.source.git.commit"] == commit
    (version,) = (tracked / REPORTING / "run_record.json").glob("*/run_record.json")
    record = json.loads(version.read_text())
    assert tags["kedro.run_id"] == record["run"]["run_id"]
    assert (tags["bit_finetune.architecture"], tags["bit_finetune.weights"]) == (
        "R14x0.25", "random")

    hyperrule = json.loads((tracked / "data/05_model_input/hyperrule.json").read_text())
    assert params["rule.total_steps"] == str(STEPS) and params["rule.batch_size"] == "32"
    assert params["rule.resize_size"] == str(hyperrule["resize_size"])
    assert params["rule.lr_boundaries"] == ""
    assert tags["rule.total_steps.override"] == "tiny test run"
    for key in ("architecture", "weights"):
        assert params[f"training.model.{key}"] == {"architecture": "R14x0.25",
                                                    "weights": "random"}[key]
    for key in ("strategy", "mixed_precision", "micro_batch_size", "finetune"):
        assert f"training.{key}" in params
    assert (params["precision.chosen"], params["precision.reason"]) == ("float32", "set")
    profile = json.loads((tracked / REPORTING / "profile_summary.json").read_text())
    assert params["data.images"] == str(profile["examples"]) == "1797"
    assert params["data.classes"] == "10"

    history = pd.read_csv(tracked / "data/07_model_output/training_history.csv")
    for name in ("loss", "accuracy", "learning_rate", "images_per_second"):
        points = client.get_metric_history(run.info.run_id, name)
        assert [p.step for p in points] == history["step"].tolist() == list(range(1, STEPS + 1))
        np.testing.assert_allclose([p.value for p in points], history[name], rtol=1e-6)
    validated = history.dropna(subset=["val_accuracy"])
    points = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [p.step for p in points] == validated["step"].tolist() and len(points) >= 1

    scores = json.loads((tracked / REPORTING / "metrics.json").read_text())
    for split in ("test", "validation"):
        for score in ("top1", "top5", "macro_f1"):
            assert metrics[f"{split}.{score}"] == pytest.approx(scores[split][score])


@pytest.mark.slow
def test_a_tracked_run_keeps_its_report_tables_and_classifier(tracked, tmp_path):
    client = store(tracked)
    (run,) = client.search_runs([client.get_experiment_by_name("digits").experiment_id])
    files = tmp_path / "artifacts"
    client.download_artifacts(run.info.run_id, "", str(files))
    report = (files / "report/report.md").read_text()
    assert report == (tracked / REPORTING / "report.md").read_text()
    for figure in FIGURES:
        assert f"]({figure}.png)" in report  # the report's links resolve beside it
        assert (files / f"report/{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("hyperrule", "metrics", "profile_summary"):
        assert json.loads((files / f"{name}.json").read_text()) == json.loads(
            (tracked / next(tracked.glob(f"data/*/{name}.json"))).read_text())
    rejected = pd.read_parquet(tracked / "data/03_primary/rejected_images.parquet")
    assert list(pd.read_csv(files / "rejected_images.csv").columns) == list(rejected.columns)

    mlflow.set_tracking_uri(f"sqlite:///{tracked}/mlruns.db")
    try:
        (logged,) = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id], output_format="list")
        assert logged.source_run_id == run.info.run_id and logged.name == "classifier"
        model = mlflow.pyfunc.load_model(logged.model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    labels = json.loads((tracked / "data/02_intermediate/label_map.json").read_text())["names"]
    assert model.metadata.metadata["label_names"] == labels
    assert model.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["dtype"] == "uint8"
    image = np.random.default_rng(0).integers(0, 256, (1, 20, 30, 3), dtype=np.uint8)
    probabilities = np.asarray(model.predict(image))
    serving = tf.saved_model.load(str(tracked / "data/06_models/serving"))
    expected = serving.signatures["serve"](images=tf.constant(image))["probabilities"]
    assert probabilities.shape == (1, len(labels))
    np.testing.assert_allclose(probabilities, expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_the_run_is_quiet_and_leaves_its_store_in_the_project(tracked):
    log = (tracked / "run.log").read_text()
    assert "WARNING" not in log and "Warning" not in log, log
    client = store(tracked)
    (run,) = client.search_runs([client.get_experiment_by_name("digits").experiment_id])
    named = f"MLflow run 'digits R14x0.25 random' ({run.info.run_id}) in experiment 'digits'"
    assert named in log
    for notice in ("km.random_name", "'__default__'", "converted to a valid uri",
                   "MLflow database tables"):  # kedro-mlflow's and MLflow's inner workings
        assert notice not in log, notice
    assert (tracked / "mlruns.db").is_file() and (tracked / "mlartifacts").is_dir()


@pytest.mark.slow
def test_a_run_that_failed_before_any_node_leaves_no_trace(tracked, tmp_path):
    """A misspelt image folder: the run stops at its first node and leaves no MLflow run,
    no experiment of its own and no data folder; the store's other runs stay."""
    project = tmp_path / "project"
    shutil.copytree(tracked, project)
    before = active(store(project))
    (project / "conf/misspelt").mkdir()
    (project / "conf/misspelt/catalog.yml").write_text(
        "raw_images:\n  type: bit_finetune.catalog.ImageFolderDataset\n  path: /no/such/photos\n")
    result = kedro(["run", "--env", "misspelt"], project, BIT_FINETUNE_TRACKING="on")
    assert result.returncode == 1 and "raw_images.path: '/no/such/photos' does not exist" in (
        result.stdout + result.stderr)
    assert active(store(project)) == before
    assert not (project / "data/misspelt").exists()


def active(client: MlflowClient) -> dict[str, list[str]]:
    """The store's active experiments, each with its active runs' ids."""
    return {e.name: sorted(r.info.run_id for r in client.search_runs([e.experiment_id]))
            for e in client.search_experiments()}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the socket is


@pytest.mark.slow
def test_an_unreachable_tracking_server_stops_the_run_before_anything(tmp_path):
    project = tmp_path / "project"
    conf = copy_project(project) / "conf"
    uri = f"http://127.0.0.1:{closed_port()}"
    (conf / "digits/globals.yml").write_text(f"tracking_uri: {uri}\n")
    result = kedro(["run"], project, BIT_FINETUNE_TRACKING="on")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"Error: mlflow.yml server.mlflow_tracking_uri: {uri} does not answer" in output
    assert "BIT_FINETUNE_TRACKING=off" in output and "Traceback" not in output
    assert not any(path.is_file() for path in (project / "data").rglob("*")), "nothing ran"

    switched_off = kedro(["run", "--pipelines", "ingestion"], project,
                         BIT_FINETUNE_TRACKING="off")
    assert switched_off.returncode == 0, switched_off.stderr[-3000:]
    assert (project / "data/02_intermediate/image_index.parquet").is_file()
    assert not (project / "mlruns.db").exists()


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args) -> None:
        pass


def test_a_server_that_answers_its_health_check_passes():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tracking.check_server(f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()
        server.server_close()
    tracking.check_server("sqlite:///mlruns.db")  # a local store needs no check
    with pytest.raises(TrackingServerError, match="does not answer"):
        tracking.check_server(f"http://127.0.0.1:{closed_port()}", timeout=2)


SETTINGS_UNDER = """
import json, os, runpy, sys
for variables in json.loads(sys.argv[1]):
    for name in ("BIT_FINETUNE_TRACKING", "TF_CONFIG"):
        os.environ.pop(name, None)
    os.environ.update(variables)
    settings = runpy.run_module("bit_finetune.settings")  # executed afresh each time
    print(settings.get("DISABLE_HOOKS_FOR_PLUGINS", ()))
"""


def settings_under(*cases: dict[str, str]) -> list[str]:
    """``DISABLE_HOOKS_FOR_PLUGINS`` as the project's settings set it under each case's
    environment variables (in one process of its own)."""
    env = {"PATH": "/usr/bin:/bin", "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.run([sys.executable, "-c", SETTINGS_UNDER, json.dumps(cases)], env=env,
                          capture_output=True, text=True, check=True).stdout.split("\n")[:-1]


@pytest.mark.slow
def test_one_switch_and_the_chief_alone_track():
    plugin, on = "('kedro_mlflow',)", {"BIT_FINETUNE_TRACKING": "on"}
    worker = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    first = {**worker, "task": {"type": "worker", "index": 0}}  # the chief: no chief task
    assert settings_under(
        on, {}, {"BIT_FINETUNE_TRACKING": "off"}, {"TF_CONFIG": json.dumps(worker), **on},
        {"TF_CONFIG": json.dumps(first), **on},
    ) == ["()", plugin, plugin, plugin, "()"]  # off unless asked, though the extra is installed
    # The name Kedro matches against the plugin's distribution
    from importlib.metadata import distribution

    assert distribution("kedro_mlflow").metadata["Name"] == "kedro_mlflow"


def test_the_switch_takes_on_and_off_and_nothing_else(monkeypatch):
    for value, on in (("on", True), ("OFF", False), ("0", False), ("true", True)):
        monkeypatch.setenv(tracking.SWITCH, value)
        assert tracking.tracking_switched_on() is on
    monkeypatch.setenv(tracking.SWITCH, "maybe")
    with pytest.raises(ConfigError, match="BIT_FINETUNE_TRACKING='maybe': use on or off"):
        tracking.tracking_switched_on()


def test_without_an_active_run_nothing_is_logged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's default store would land here
    assert mlflow.active_run() is None
    tracking.log_step({"step": 1, "loss": 0.5})
    tracking.log_scores({"test": {"top1": 1.0}})
    tracking.log_artifact("text", "a.txt")
    tracking.start_training(tmp_path, 3, pd.DataFrame())
    tracking.log_precision({"chosen": "float32", "reason": "set"})
    assert list(tmp_path.iterdir()) == []


def test_weights_are_labelled_by_their_last_part():
    assert tracking.weights_label("random") == "random"
    assert tracking.weights_label("BiT-M-R50x1") == "BiT-M-R50x1"
    assert tracking.weights_label("/cache/BiT-M-R50x1.npz") == "BiT-M-R50x1.npz"
    assert tracking.weights_label("https://tfhub.dev/google/bit/m-r50x1/1/") == "m-r50x1/1"


@pytest.mark.slow
def test_a_killed_run_resumed_is_linked_and_its_curves_start_at_step_one(staged_project,
                                                                          tmp_path):
    project = copy_of(staged_project, tmp_path / "project")
    run_in_process(project, tiny(TOTAL_STEPS), node_names=["hyperrule.derive_hyperrule"])
    command = ["--pipelines", "training", "--params", as_cli(tiny(TOTAL_STEPS, progress=True))]
    training = KedroProcess(project, command, BIT_FINETUNE_TRACKING="on")
    training.wait_for(rf"train:.*\|\s*(?:{'|'.join(map(str, range(6, TOTAL_STEPS)))})/"
                      rf"{TOTAL_STEPS}\b")
    training.kill()
    output = KedroProcess(project, command, BIT_FINETUNE_TRACKING="on").finish()
    assert "Resuming from" in output

    client = store(project)
    killed, resumed = sorted(client.search_runs([client.get_experiment_by_name(
        "digits").experiment_id]), key=lambda run: run.info.start_time)
    assert killed.info.status == "KILLED" and resumed.info.status == "FINISHED"
    assert resumed.data.tags[tracking.RESUMED_TAG] == killed.info.run_id
    assert (resumed.data.tags[tracking.WORKSPACE_TAG]
            == killed.data.tags[tracking.WORKSPACE_TAG])
    assert f"MLflow run {resumed.info.run_id} continues run {killed.info.run_id} (killed)" in output
    steps = [p.step for p in client.get_metric_history(resumed.info.run_id, "loss")]
    assert steps == list(range(1, TOTAL_STEPS + 1))  # the restored history, then the rest
    logged_before = [p.step for p in client.get_metric_history(killed.info.run_id, "loss")]
    assert logged_before and logged_before == steps[: len(logged_before)]


@pytest.fixture(scope="module")
def runs_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    return write_store(tmp_path_factory.mktemp("tracked"))


def test_one_row_per_run_of_every_active_experiment(runs_store):
    uri, ids = runs_store
    runs = tracking.tracked_runs_table(uri)
    assert list(runs.columns[: len(tracking.RUN_COLUMNS)]) == tracking.RUN_COLUMNS
    assert list(runs["run_id"]) == ids  # oldest first; the deleted experiment's run is gone
    assert DELETED.dataset not in set(runs["dataset"])
    assert list(runs["run_name"]) == [run.name for run in RUNS]
    assert list(runs["dataset"]) == [run.dataset for run in RUNS]
    assert list(runs["status"]) == [run.status for run in RUNS]
    minutes = (runs["end_time"] - runs["start_time"]).dt.total_seconds() / 60
    assert list(minutes) == [run.minutes for run in RUNS]
    assert str(runs["start_time"].dt.tz) == "UTC"
    assert runs.loc[0, "start_time"] == pd.Timestamp("2025-03-01T10:00:00Z")
    # metrics, params and tags as mlflow.search_runs names them
    assert list(runs["metrics.test.top1"].isna()) == [run.test is None for run in RUNS]
    assert runs.loc[0, "metrics.loss"] == pytest.approx(2.0 / 3)  # a step metric's last value
    assert list(runs["params.rule.crop_size"]) == [str(run.crop_size) for run in RUNS]
    assert runs.loc[0, "params.training.model.architecture"] == "R14x0.25"
    assert list(runs["tags.bit_finetune.weights"]) == [run.weights for run in RUNS]
    assert runs.loc[2, "tags.bit_finetune.resumed_from"] == ids[1]
    assert runs["tags.bit_finetune.resumed_from"].isna().sum() == len(RUNS) - 1


def test_a_relative_sqlite_uri_is_read_from_the_working_folder(runs_store, monkeypatch, tmp_path):
    uri, ids = runs_store
    monkeypatch.chdir(Path(uri.removeprefix("sqlite:///")).parent)
    assert list(tracking.tracked_runs_table("sqlite:///mlruns.db")["run_id"]) == ids
    # another folder's store, in the same process (MLflow keeps a store per uri)
    shutil.copy("mlruns.db", tmp_path / "mlruns.db")
    MlflowClient(f"sqlite:///{tmp_path}/mlruns.db").delete_run(ids[0])
    monkeypatch.chdir(tmp_path)
    assert list(tracking.tracked_runs_table("sqlite:///mlruns.db")["run_id"]) == ids[1:]


@pytest.mark.parametrize("uri", ["sqlite:///{folder}/mlruns.db", "sqlite:///mlruns.db",
                                 "{folder}/mlruns", "file://{folder}/mlruns"])
def test_a_store_not_there_yet_is_no_runs_and_is_not_created(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tracking.tracked_runs_table(uri.format(folder=tmp_path))
    assert runs.empty
    assert list(runs.columns) == tracking.RUN_COLUMNS
    assert list(tmp_path.iterdir()) == []


def test_a_store_without_runs_is_an_empty_table(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    MlflowClient(tracking_uri=uri).search_experiments()  # creates the empty store
    assert list(tracking.tracked_runs_table(uri).columns) == tracking.RUN_COLUMNS
