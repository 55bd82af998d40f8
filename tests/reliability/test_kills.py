"""SIGKILL in the middle of a stage or of a save: rerunning the same command completes the
run, and nothing half-written is ever taken for a finished artefact."""

from __future__ import annotations

import json
import random
import re
import signal
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
from tiny_project import (
    DATA_PIPELINES,
    KedroProcess,
    as_cli,
    assert_whole,
    copy_of,
    copy_project,
    files,
    partial_files,
    recipe_folder,
    run_in_process,
    tiny,
    variant_environment,
)

from bit_finetune.catalog import TFRecordShardsDataset

pytestmark = pytest.mark.slow

TOTAL_STEPS = 12
SHARDS = "data/05_model_input/shards"


def midway(bar: str) -> str:
    """A tqdm bar named ``bar`` between 1% and 99%."""
    return rf"{re.escape(bar)}:\s+[1-9]\d?%"


@pytest.fixture
def digits(staged_project: Path, tmp_path: Path) -> Path:
    """A copy of the session's staged project, its HyperRule rederived for TOTAL_STEPS."""
    project = copy_of(staged_project, tmp_path / "project")
    run_in_process(project, tiny(TOTAL_STEPS), node_names=["hyperrule.derive_hyperrule"])
    return project


def test_killed_while_profiling_and_while_writing_shards(tmp_path, image_folder):
    images = image_folder(tmp_path / "images", classes=("cat", "dog", "owl"), per_class=30)
    project = copy_project(tmp_path / "project")
    variant_environment(project / "conf", "slow", catalog={"raw_images": {
        "type": "reliability.slow_source.SlowImageFolderDataset", "path": str(images),
        "delay": 0.05,
    }})
    command = ["--env", "slow", "--pipelines", DATA_PIPELINES,
               "--params", as_cli(tiny(progress=True))]

    profiling = KedroProcess(project, command)
    profiling.wait_for(midway("profiling"))
    profiling.kill()
    whole = set(assert_whole(project, "slow"))
    assert {"image_index", "label_map"} <= whole and "image_profile" not in whole

    writing = KedroProcess(project, command)
    writing.wait_for(midway("write_shards train"))
    writing.kill()
    assert "tfrecord_shards" not in assert_whole(project, "slow")
    assert not TFRecordShardsDataset(str(project / SHARDS)).exists()

    KedroProcess(project, command).finish()
    assert "tfrecord_shards" in assert_whole(project, "slow")
    assert partial_files(project / "data") == []  # the rerun swept what the kills left
    kept = pd.read_parquet(project / "data/03_primary/filtered_index.parquet")
    shards = TFRecordShardsDataset(str(project / SHARDS)).load()
    assert sum(shards.count(split) for split in shards.splits()) == len(kept) == 90


def test_killed_in_the_middle_of_a_save_keeps_the_previous_artefact(digits):
    project = digits
    before = files(project / "data")
    profile = "02_intermediate/image_profile.parquet"
    command = ["--pipelines", "ingestion,profiling", "--params", as_cli(tiny(TOTAL_STEPS))]
    killed = KedroProcess(project, ["image_profile.parquet", "20000", *command],
                          launcher=("reliability.kill_mid_save",))
    killed.process.wait(timeout=300)
    assert killed.process.returncode == -9, killed.output()[-3000:]
    assert partial_files(project / "data"), "the kill came before the save"
    after = files(project / "data")
    assert after[profile] == before[profile]  # the old profile, whole
    assert "image_profile" in assert_whole(project)

    KedroProcess(project, command).finish()
    assert partial_files(project / "data") == []
    assert files(project / "data")[profile] == before[profile]  # same input, same bytes


def test_killed_training_resumes_from_its_checkpoint_to_the_same_end(digits):
    project = digits
    recipe = (project / "data/05_model_input/hyperrule.json").read_bytes()
    command = ["--pipelines", "training", "--params", as_cli(tiny(TOTAL_STEPS, progress=True))]
    step = random.randint(3, TOTAL_STEPS - 1)

    training = KedroProcess(project, command)
    training.wait_for(rf"train:.*\|\s*(?:{'|'.join(map(str, range(step, TOTAL_STEPS)))})/"
                      rf"{TOTAL_STEPS}\b")
    training.kill()
    workspace = recipe_folder(project / "data/06_models/training")
    latest = tf.train.latest_checkpoint(str(workspace / "checkpoints"))
    assert latest, f"no checkpoint by step {step}"
    saved = int(latest.rsplit("-", 1)[1])
    assert 0 < saved < TOTAL_STEPS, (step, saved)
    assert "classifier" not in assert_whole(project)
    history_at_kill = pd.read_csv(workspace / "history.csv")
    fingerprint = json.loads((workspace / "recipe.json").read_text())["sha256"]

    output = KedroProcess(project, command).finish()
    assert f"Resuming from {latest} at step {saved}" in output, f"killed at step >= {step}"
    history = pd.read_csv(project / "data/07_model_output/training_history.csv")
    assert history["step"].tolist() == list(range(1, TOTAL_STEPS + 1))
    pd.testing.assert_frame_equal(history.iloc[:saved], history_at_kill.iloc[:saved])
    assert tf.train.latest_checkpoint(str(workspace / "checkpoints")).endswith(f"-{TOTAL_STEPS}")
    assert (project / "data/05_model_input/hyperrule.json").read_bytes() == recipe
    assert json.loads((workspace / "recipe.json").read_text())["sha256"] == fingerprint
    assert recipe_folder(project / "data/06_models/training") == workspace  # the same folder
    assert {"classifier", "serving_model", "training_history"} <= set(assert_whole(project))


def test_killed_evaluation_reruns_to_complete_reports(trained_project, tmp_path):
    project = copy_of(trained_project, tmp_path / "project")
    for scores in ("08_reporting/metrics.json", "07_model_output/predictions.parquet"):
        (project / "data" / scores).unlink()  # trained, not evaluated yet
    command = ["--pipelines", "evaluation", "--params", as_cli(tiny(progress=True))]

    evaluation = KedroProcess(project, command)
    evaluation.wait_for(r"Evaluation on test")  # validation still to go
    evaluation.kill()
    assert not {"metrics", "predictions"} & set(assert_whole(project))

    KedroProcess(project, command).finish()
    reports = set(assert_whole(project))
    assert {"metrics", "predictions", "confusion_matrix_plot", "mistakes_plot"} <= reports
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    predictions = pd.read_parquet(project / "data/07_model_output/predictions.parquet")
    assert metrics["test"]["examples"] + metrics["validation"]["examples"] == len(predictions)


def test_sigterm_and_ctrl_c_save_a_checkpoint_and_the_same_command_resumes(digits):
    """SIGTERM (a cluster's stop) and SIGINT (Ctrl-C) during training: a checkpoint at the
    next step boundary, one line, the signal's exit code, the MLflow run KILLED."""
    from mlflow import MlflowClient

    project, total = digits, 60  # room for the steps done before the signal lands
    run_in_process(project, tiny(total), node_names=["hyperrule.derive_hyperrule"])
    params = tiny(total, progress=True, training__checkpoint_every=total)
    command = ["--pipelines", "training", "--params", as_cli(params)]
    workspace = project / "data/06_models/training"
    stops = [0]
    for number, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        training = KedroProcess(project, command, BIT_FINETUNE_TRACKING="on")
        steps = "|".join(map(str, range(stops[-1] + 2, stops[-1] + 8)))
        training.wait_for(rf"train:.*\|\s*(?:{steps})/{total}\b")
        training.process.send_signal(number)
        training.process.wait(timeout=300)
        output = training.output()
        assert training.process.returncode == code, output[-3000:]
        found = re.fullmatch(r"Interrupted at step (\d+); checkpoint saved; the same command "
                             r"resumes", output.strip().splitlines()[-1])
        assert found, output[-3000:]
        step = int(found[1])
        assert stops[-1] < step < total
        if stops[-1]:
            assert f"at step {stops[-1]}" in output  # resumed where the first one stopped
        assert "Traceback" not in output and "Repeat the previous command" not in output
        latest = tf.train.latest_checkpoint(str(recipe_folder(workspace) / "checkpoints"))
        assert latest.endswith(f"-{step}"), latest  # saved on the signal, not periodically
        stops.append(step)
    client = MlflowClient(f"sqlite:///{project}/mlruns.db")
    runs = client.search_runs([client.get_experiment_by_name("digits").experiment_id])
    assert [run.info.status for run in runs] == ["KILLED", "KILLED"]
