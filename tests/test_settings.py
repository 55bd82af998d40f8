"""The project's config loader: one data folder per environment, parameters merged key by
key, the embedded default as the default environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from tiny_project import copy_project

from bit_finetune.settings import CONFIG_LOADER_ARGS, EnvironmentConfigLoader

CONF = Path(__file__).resolve().parents[1] / "conf"


def loader(conf: Path, env: str | None) -> EnvironmentConfigLoader:
    return EnvironmentConfigLoader(str(conf), env=env, **CONFIG_LOADER_ARGS)


@pytest.mark.parametrize(
    ("env", "folder"),
    [(None, "data"), ("digits", "data"), ("cats_vs_dogs", "data/cats_vs_dogs"),
     ("transfer_demo", "data/transfer_demo")],
)
def test_each_environment_writes_under_its_own_data_folder(env, folder):
    catalog = loader(CONF, env)["catalog"]
    paths = [entry.get("filepath") or entry.get("path") for name, entry in catalog.items()
             if name not in ("raw_images", "prediction_images", "tracked_runs")
             and "." not in name]
    assert paths
    assert all(path.startswith(f"{folder}/0") for path in paths), paths


def test_an_environment_may_set_its_data_folder(tmp_path: Path):
    conf = copy_project(tmp_path) / "conf"
    (conf / "mine").mkdir()
    (conf / "mine/globals.yml").write_text("data_folder: /scratch/mine\n")
    catalog = loader(conf, "mine")["catalog"]
    assert catalog["metrics"]["filepath"] == "/scratch/mine/08_reporting/metrics.json"


def test_parameters_merge_key_by_key_and_the_digits_choices_stay_in_their_environment():
    base = loader(CONF, "cats_vs_dogs")["parameters"]
    digits = loader(CONF, None)["parameters"]
    assert base["hyperrule"]["overrides"] == {}
    assert base["hyperrule"]["batch_size"] == 512
    assert base["training"]["augment"] == {"random_crop": True, "random_flip": True}
    assert base["training"]["model"]["architecture"] == "R50x1"  # cats_vs_dogs' own key
    assert base["training"]["micro_batch_size"] == "auto"  # a base key beside it
    assert set(digits["hyperrule"]["overrides"]) == {"learning_rate", "resize_size", "crop_size"}
    assert digits["training"]["model"]["weights"] == "random"
    assert digits["training"]["deterministic"] is False  # every base key is still there


@pytest.mark.slow
def test_the_notebook_session_follows_kedro_env(tmp_path: Path, monkeypatch):
    """`kedro jupyter lab --env myimages` sets KEDRO_ENV; the notebook's session reads it."""
    conf = copy_project(tmp_path) / "conf"
    (conf / "myimages").mkdir()
    (conf / "myimages/catalog.yml").write_text(yaml.safe_dump(
        {"raw_images": {"type": "bit_finetune.catalog.ImageFolderDataset", "path": "x"}}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEDRO_ENV", "myimages")
    bootstrap_project(tmp_path)
    with KedroSession.create(project_path=tmp_path) as session:
        catalog = session.load_context().config_loader["catalog"]
    assert catalog["metrics"]["filepath"] == "data/myimages/08_reporting/metrics.json"


@pytest.mark.slow
def test_kedro_viz_opened_with_an_environment_reads_its_folder(tmp_path: Path, monkeypatch):
    """`kedro viz run --env myimages` loads the project through this function."""
    from kedro_viz.integrations.kedro.data_loader import load_data

    conf = copy_project(tmp_path) / "conf"
    (conf / "myimages").mkdir()
    (conf / "myimages/catalog.yml").write_text(yaml.safe_dump(
        {"raw_images": {"type": "bit_finetune.catalog.ImageFolderDataset", "path": "x"}}))
    monkeypatch.chdir(tmp_path)
    catalog, _, _ = load_data(tmp_path, env="myimages")
    assert "data/myimages/08_reporting/metrics.json" in repr(catalog["metrics"])
    catalog, _, _ = load_data(tmp_path)
    assert "data/08_reporting/metrics.json" in repr(catalog["metrics"])
