"""Same configuration and seed, same results: the split, the HyperRule, the shard bytes and,
on a CPU, the training loss curve; and every run records what produced it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
from tiny_project import DATA_STAGES, STEPS, copy_project, files, run_in_process, tiny

from tests.training.processes import ROOT, environment

pytestmark = pytest.mark.slow

RECORD = "08_reporting/run_record.json"


@pytest.fixture(scope="module")
def twins(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two projects of the same configuration: the session's trained one, and one more
    through the data stages and training, both in this process."""
    project = copy_project(tmp_path_factory.mktemp("twin") / "project")
    run_in_process(project, tiny(), pipeline_names=DATA_STAGES + ["training"])
    return [trained_project, project]


def test_data_stages_give_the_same_split_hyperrule_and_shards(twins):
    first, second = ([f for f in files(p / "data").items() if not f[0].startswith(RECORD)]
                     for p in twins)
    data = [p / "data" for p in twins]
    index = [pd.read_parquet(d / "02_intermediate/image_index.parquet") for d in data]
    pd.testing.assert_frame_equal(*index)
    assert set(index[0]["split"]) == {"train", "validation", "test"}
    assert (data[0] / "05_model_input/hyperrule.json").read_bytes() == (
        data[1] / "05_model_input/hyperrule.json"
    ).read_bytes()
    manifests = [json.loads((d / "05_model_input/shards/manifest.json").read_text()) for d in data]
    checksums = [{f["name"]: f["sha256"] for s in m["splits"].values() for f in s["files"]}
                 for m in manifests]
    assert checksums[0] == checksums[1] and len(checksums[0]) >= 3
    shards = {k: v for k, v in first if "/shards/" in k}
    assert shards == {k: v for k, v in second if "/shards/" in k}


def test_training_on_a_cpu_gives_the_same_loss_curve(twins):
    assert not tf.config.list_physical_devices("GPU")
    histories = [pd.read_csv(p / "data/07_model_output/training_history.csv") for p in twins]
    assert histories[0]["step"].tolist() == list(range(1, STEPS + 1))
    for column in ("loss", "learning_rate", "accuracy"):
        assert histories[0][column].tolist() == histories[1][column].tolist(), column
    assert histories[0]["loss"].nunique() > 1  # it did train


def test_every_run_records_what_produced_it(twins):
    records = sorted((twins[1] / "data" / RECORD).glob("*/run_record.json"))
    assert len(records) == 1  # one run made this copy: the data stages and training
    record = json.loads(records[0].read_text())
    assert record["packages"]["bit_finetune"] == metadata.version("bit_finetune")
    assert record["packages"]["tensorflow"] == tf.__version__
    assert record["packages"]["kedro"] and record["python"]
    assert record["parameters"]["ingestion"]["seed"] == 42
    assert record["parameters"]["training"]["seed"] == 0
    assert record["parameters"]["training"]["deterministic"] is False
    assert record["parameters"]["hyperrule"]["overrides"]["total_steps"] == STEPS
    assert record["run"]["pipeline_names"] == DATA_STAGES + ["training"]
    assert record["git_commit"] is None  # the copy is not a git checkout


def test_the_run_record_names_the_git_commit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = copy_project(tmp_path / "project")

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("add", "conf", "pyproject.toml")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "conf")
    run_in_process(project, tiny(), pipeline_names=["ingestion"])
    (record,) = (project / "data" / RECORD).glob("*/run_record.json")
    assert json.loads(record.read_text())["git_commit"] == git("rev-parse", "HEAD")
    assert json.loads(record.read_text())["platform"]
    with (project / "conf/base/parameters/ingestion.yml").open("a") as conf:
        conf.write("# a local change\n")
    run_in_process(project, tiny(), pipeline_names=["ingestion"])
    latest = max((project / "data" / RECORD).glob("*/run_record.json"))
    assert json.loads(latest.read_text())["git_commit"] == git("rev-parse", "HEAD") + "-dirty"


DETERMINISM_PROBE = textwrap.dedent("""
    import json, logging, tempfile
    from tensorflow.python.framework import config
    from bit_finetune.training.loop import train
    from tests.training.tiny import tiny_data, tiny_model, tiny_params, tiny_recipe

    logging.basicConfig(level=logging.INFO)
    seen = {}
    for deterministic in (False, True):
        def build():
            seen[deterministic] = config.is_op_determinism_enabled()
            return tiny_model()
        recipe = tiny_recipe(total_steps=2, warmup_steps=1, lr_boundaries=[])
        train(build, tiny_data(), recipe, tiny_params(deterministic=deterministic),
              tempfile.mkdtemp())
    print(json.dumps({str(k): v for k, v in seen.items()}))
""")


def test_the_deterministic_switch_turns_on_deterministic_ops():
    """``training.deterministic: true`` turns TensorFlow's op determinism on before the model
    is built, and says so; off, it is left off. In a process of its own: once on, it stays
    on."""
    run = subprocess.run([sys.executable, "-c", DETERMINISM_PROBE], cwd=ROOT, env=environment(),
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"False": False, "True": True}
    assert run.stderr.count("Deterministic ops on (training.deterministic)") == 1
