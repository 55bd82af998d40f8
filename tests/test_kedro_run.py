"""The data stages run through a real KedroSession and the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

ROOT = Path(__file__).resolve().parents[1]
DATA_STAGES = ["ingestion", "profiling", "filtering", "hyperrule"]


def copy_project(target: Path) -> Path:
    """The project's pyproject and conf in ``target``; artefacts land in target/data."""
    shutil.copytree(ROOT / "conf", target / "conf")
    shutil.copy(ROOT / "pyproject.toml", target)
    (target / "src").mkdir()  # the package itself is installed
    return target / "conf"


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    conf = copy_project(tmp_path)
    bootstrap_project(tmp_path)
    return conf


def run(conf: Path, env: str | None = None, **kwargs) -> None:
    with KedroSession.create(project_path=conf.parent, env=env) as session:
        session.run(**kwargs)


def test_data_stages_on_embedded_default(conf: Path, tmp_path: Path):
    for stage in DATA_STAGES:
        run(conf, pipeline_names=[stage])
    index = pd.read_parquet(tmp_path / "data/02_intermediate/image_index.parquet")
    assert len(index) == 1797
    assert set(index["split"]) == {"train", "validation", "test"}
    profile = pd.read_parquet(tmp_path / "data/02_intermediate/image_profile.parquet")
    assert profile["decodable"].all()
    assert set(zip(profile["width"], profile["height"])) == {(8, 8)}
    recipe = json.loads((tmp_path / "data/05_model_input/hyperrule.json").read_text())
    assert (recipe["resize_size"], recipe["crop_size"]) == (160, 128)
    assert recipe["train_examples"] == (index["split"] == "train").sum()
    for plot in ("resolution_profile.png", "class_balance.png"):
        assert (tmp_path / "data/08_reporting" / plot).stat().st_size > 0
    records = sorted((tmp_path / "data/08_reporting/run_record.json").glob("*/run_record.json"))
    assert len(records) == len(DATA_STAGES)  # one versioned record per run
    record = json.loads(records[-1].read_text())
    assert record["parameters"]["ingestion"]["seed"] == 42
    assert record["packages"]["tensorflow"]
    assert record["run"]["pipeline_names"] == ["hyperrule"]


def test_image_folder_through_an_environment(conf: Path, tmp_path: Path, image_folder):
    root = image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=12)
    env = conf / "myfolder"
    env.mkdir()
    (env / "catalog.yml").write_text(
        yaml.safe_dump(
            {"raw_images": {"type": "bit_finetune.datasets.ImageFolderDataset", "path": str(root)}}
        )
    )
    run(conf, env="myfolder", pipeline_names=["ingestion"])
    run(conf, env="myfolder", from_nodes=["profile_images"], to_nodes=["derive_hyperrule"])
    filtered = pd.read_parquet(tmp_path / "data/03_primary/filtered_index.parquet")
    assert len(filtered) == 24
    assert set(filtered["label_name"]) == {"cat", "dog"}
    assert (tmp_path / "data/05_model_input/hyperrule.json").exists()


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=300,
    )


@pytest.mark.slow
def test_cli_bad_parameter_fails_naming_the_key(tmp_path: Path):
    copy_project(tmp_path)
    result = _cli(
        ["run", "--pipelines", "ingestion", "--params", "ingestion.sed=3"], tmp_path
    )
    assert result.returncode != 0
    assert "ingestion.sed: unknown parameter" in " ".join((result.stdout + result.stderr).split())
    assert not (tmp_path / "data/02_intermediate/image_index.parquet").exists()


@pytest.mark.slow
def test_cli_missing_folder_fails_naming_the_key(tmp_path: Path):
    env = copy_project(tmp_path) / "missing"
    env.mkdir()
    (env / "catalog.yml").write_text(
        "raw_images:\n  type: bit_finetune.datasets.ImageFolderDataset\n"
        f"  path: {tmp_path / 'nowhere'}\n"
    )
    result = _cli(["run", "--pipelines", "ingestion", "--env", "missing"], tmp_path)
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "raw_images.path" in output
    assert "does not exist" in output
