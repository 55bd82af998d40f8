"""The data stages run through a real KedroSession and the real CLI, selected by stage,
namespace and node name (``<stage>.<node>``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tiny_project import TINY_PARAMS, copy_of, copy_project, kedro, run_in_process, tiny

from bit_finetune.errors import ConfigError
from bit_finetune.pipeline_registry import STAGES, register_pipelines
from bit_finetune.startup import is_notice

DATA_STAGES = ["ingestion", "profiling", "filtering", "hyperrule"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return copy_project(tmp_path)


@pytest.mark.slow
def test_data_stages_on_embedded_default(project: Path, tmp_path: Path):
    for stage in DATA_STAGES:
        run_in_process(project, pipeline_names=[stage])
    index = pd.read_parquet(tmp_path / "data/02_intermediate/image_index.parquet")
    assert len(index) == 1797
    assert set(index["split"]) == {"train", "validation", "test"}
    profile = pd.read_parquet(tmp_path / "data/02_intermediate/image_profile.parquet")
    assert profile["decodable"].all()
    assert set(zip(profile["width"], profile["height"])) == {(8, 8)}
    recipe = json.loads((tmp_path / "data/05_model_input/hyperrule.json").read_text())
    rule = {key: recipe["overrides"].get(key, {"rule_value": recipe[key]})["rule_value"]
            for key in ("resize_size", "crop_size")}
    assert (rule["resize_size"], rule["crop_size"]) == (160, 128)  # the rule for 8x8 images
    assert recipe["train_examples"] == (index["split"] == "train").sum()
    for plot in ("resolution_profile.png", "class_balance.png"):
        assert (tmp_path / "data/08_reporting" / plot).stat().st_size > 0
    records = sorted((tmp_path / "data/08_reporting/run_record.json").glob("*/run_record.json"))
    assert len(records) == len(DATA_STAGES)  # one versioned record per run
    record = json.loads(records[-1].read_text())
    assert record["parameters"]["ingestion"]["seed"] == 42
    assert record["packages"]["tensorflow"]
    assert record["run"]["pipeline_names"] == ["hyperrule"]


@pytest.mark.slow
def test_an_environment_of_photos_gets_the_rule_in_its_own_folder(
    project: Path, tmp_path: Path, image_folder
):
    """The embedded default's own HyperRule overrides and model stay in conf/digits: an
    environment naming only a folder of photos gets the rule's own values, and its
    artefacts go to data/<env>/ without touching the default's in data/."""
    run_in_process(project, pipeline_names=DATA_STAGES)  # kedro run --pipelines ... (the digits)
    default = tmp_path / "data/05_model_input/hyperrule.json"
    digits = json.loads(default.read_text())
    assert (digits["resize_size"], digits["crop_size"], digits["learning_rate"]) == (64, 64, 0.1)
    assert digits["batch_size"] == 128
    written = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}

    root = image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=12,
                        sizes=(100, 140))
    env = project / "conf/myfolder"
    env.mkdir()
    (env / "catalog.yml").write_text(
        yaml.safe_dump(
            {"raw_images": {"type": "bit_finetune.catalog.ImageFolderDataset", "path": str(root)}}
        )
    )
    run_in_process(project, env="myfolder", pipeline_names=["ingestion"])
    run_in_process(project, env="myfolder", from_nodes=["profiling.profile_images"],
        to_nodes=["hyperrule.derive_hyperrule"])
    data = tmp_path / "data/myfolder"
    filtered = pd.read_parquet(data / "03_primary/filtered_index.parquet")
    assert len(filtered) == 24
    assert set(filtered["label_name"]) == {"cat", "dog"}
    photos = json.loads((data / "05_model_input/hyperrule.json").read_text())
    assert photos["overrides"] == {}
    assert (photos["resize_size"], photos["crop_size"]) == (512, 480)  # the rule's own
    assert (photos["batch_size"], photos["learning_rate"]) == (512, 0.003)
    assert {p: p.read_bytes() for p in written} == written  # the digits' artefacts as they were
    assert not [p for p in (tmp_path / "data").rglob("*")
                if p.is_file() and p not in written and data not in p.parents]


def test_nodes_are_named_after_their_stage_and_datasets_are_not():
    pipelines = register_pipelines()
    for stage in STAGES:
        for node in pipelines[stage].nodes:
            assert node.namespace == stage
            assert node.name == f"{stage}.{node.name.split('.')[-1]}"
            assert stage in node.tags
    everything = pipelines["__default__"]
    by_stage = {node.name for stage in STAGES for node in pipelines[stage].nodes}
    assert {node.name for node in everything.nodes} == by_stage
    assert not [name for name in everything.datasets() if "." in name]  # catalog names as is
    with pytest.raises(ValueError, match=r"Did you mean: \['hyperrule\.derive_hyperrule'\]"):
        everything.only_nodes("derive_hyperrule")


def artefacts(data: Path) -> set[str]:
    """The files the data stages have written so far (reports aside)."""
    return {p.name for p in data.glob("0[2-5]_*/*") if p.is_file()}


@pytest.mark.slow
def test_runs_select_by_node_namespace_pipeline_and_start_node(project: Path, tmp_path: Path):
    data = tmp_path / "data"
    run_in_process(project, node_names=["ingestion.index_images"])  # kedro run --nodes ingestion.index_images
    assert artefacts(data) == {"image_index.parquet", "label_map.json"}
    indexed = (data / "02_intermediate/image_index.parquet").stat().st_mtime_ns
    run_in_process(project, namespaces=["profiling"])  # kedro run --namespaces profiling
    assert artefacts(data) == {"image_index.parquet", "label_map.json", "image_profile.parquet"}
    run_in_process(project, pipeline_names=["filtering"])  # kedro run --pipelines filtering
    assert {"filtered_index.parquet", "rejected_images.parquet"} <= artefacts(data)
    assert "hyperrule.json" not in artefacts(data)
    # kedro run --pipelines ingestion,profiling,filtering,hyperrule --from-nodes filtering...
    run_in_process(project, pipeline_names=DATA_STAGES, from_nodes=["filtering.filter_images"])
    assert "hyperrule.json" in artefacts(data)
    assert (data / "02_intermediate/image_index.parquet").stat().st_mtime_ns == indexed


def lines(result, text: str) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if text in line]


def ok(result) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def logged(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """The messages logged so far that hold ``text``; then forget them."""
    found = [record.getMessage() for record in caplog.records if text in record.getMessage()]
    caplog.clear()
    return found


@pytest.mark.slow
def test_change_one_thing_and_run_again(trained_project: Path, tmp_path: Path, image_folder,
                                        caplog: pytest.LogCaptureFixture):
    """The README's ways of running again, in order, from a project after its first tiny
    run: a changed parameter, retraining from the shards, an own-data environment beside
    the embedded default, a data-stages run that needs no weights, and HyperRule overrides
    typed on the command line (the one step whose command line is under test)."""
    project = copy_of(trained_project, tmp_path / "project")
    data, workspaces = project / "data", project / "data/06_models/training"
    caplog.set_level(logging.INFO)
    (first,) = workspaces.iterdir()

    # 1. a changed parameter is a new training: the old checkpoints stay
    kept = snapshot(first)
    changed = tiny(hyperrule__batch_size=16)
    run_in_process(project, changed)
    (why,) = logged(caplog, "New recipe: training from scratch")
    assert "hyperrule.batch_size: 32 -> 16" in why
    assert snapshot(first) == kept
    assert len(list(workspaces.iterdir())) == 2
    assert json.loads((data / "05_model_input/hyperrule.json").read_text())["batch_size"] == 16

    # 4. --pipelines training restores the finished training; resume=false trains again
    run_in_process(project, changed, pipeline_names=["training"])
    assert logged(caplog, "restored, not retrained")
    run_in_process(project, tiny(hyperrule__batch_size=16, training__resume=False),
                   pipeline_names=["training"])
    assert logged(caplog, "training.resume is false: training from scratch")
    assert len(list(workspaces.iterdir())) == 3  # the earlier folder moved aside, kept

    # 2, 3, 5. an own-data environment: its catalog alone, its artefacts in data/myimages
    digits = snapshot(data)
    photos = image_folder(tmp_path / "photos", classes=("cat", "dog"), per_class=8)
    (project / "conf/myimages").mkdir()
    (project / "conf/myimages/catalog.yml").write_text(yaml.safe_dump({"raw_images": {
        "type": "bit_finetune.catalog.ImageFolderDataset", "path": str(photos)}}))
    mine = tiny(training__model={"architecture": "R14x0.25", "weights": "random"})
    run_in_process(project, mine, env="myimages")
    assert (data / "myimages/08_reporting/report.md").exists()
    assert snapshot(data / "myimages") and {
        p: b for p, b in snapshot(data).items() if data / "myimages" not in p.parents
    } == digits
    (record,) = (data / "myimages/08_reporting/run_record.json").glob("*/run_record.json")
    training = json.loads(record.read_text())["parameters"]["training"]
    assert {"deterministic", "steps_per_call", "cluster_start_timeout"} <= set(training)
    theirs = snapshot(data / "myimages")
    run_in_process(project, changed, pipeline_names=["training"])
    assert snapshot(data / "myimages") == theirs

    # 6. the data stages need no weights; training fails at once without them
    missing = tiny(training__model={"architecture": "R14x0.25",
                                    "weights": str(tmp_path / "BiT-M-R50x1.npz")})
    run_in_process(project, missing, env="myimages", pipeline_names=DATA_STAGES)
    with pytest.raises(ConfigError, match=r"^training\.model\.weights:"):
        run_in_process(project, missing, env="myimages", pipeline_names=["training"])

    # 7. HyperRule overrides typed on the command line, a list included, with their reason
    typed = ("hyperrule.overrides.total_steps=9,hyperrule.overrides.warmup_steps=2,"
             "hyperrule.overrides.lr_boundaries=3 6,"
             "hyperrule.override_reason=a typed schedule")
    stages = ",".join(DATA_STAGES)
    ok(kedro(["run", "--env", "myimages", "--pipelines", stages, "--params", typed], project))
    recipe = json.loads((data / "myimages/05_model_input/hyperrule.json").read_text())
    assert recipe["lr_boundaries"] == [3, 6] and recipe["total_steps"] == 9
    assert recipe["overrides"]["lr_boundaries"]["reason"] == "a typed schedule"


@pytest.mark.slow
def test_a_clean_run_has_a_clean_console(tmp_path: Path):
    """Warnings are for what the user should act on: a whole run of a fresh project has
    none, nor errors, nor TensorFlow's start-up notices (its training imports TensorFlow)."""
    copy_project(tmp_path)
    result = kedro(["run", "--params", TINY_PARAMS], tmp_path, timeout=600)
    ok(result)
    assert not lines(result, "WARNING") and not lines(result, "ERROR"), result.stdout[-3000:]
    console = (result.stdout + result.stderr).encode().splitlines(keepends=True)
    assert [line for line in console if is_notice(line)] == []
