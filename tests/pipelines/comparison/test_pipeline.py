"""`kedro run --pipelines comparison` in a project copy: the runs of its MLflow store (the
catalog's default, mlruns.db in the project folder) to a CSV table and a PNG figure.

In this process the runs leave kedro-mlflow's hooks out (the tests switch tracking off;
the pipeline is not tracked anyway, see mlflow.yml), so that they stay quick; the command
as typed keeps them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image
from tiny_project import copy_project, kedro
from tracked_store import COMPARED, write_store
from viz_screenshot import build_site

from bit_finetune.evaluation.comparison import COMPARISON_COLUMNS
from bit_finetune.pipeline_registry import register_pipelines


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    copy_project(tmp_path)
    bootstrap_project(tmp_path)
    return tmp_path


def run_comparison(project: Path) -> tuple[pd.DataFrame, Path]:
    with KedroSession.create(project_path=project) as session:
        session.run(pipeline_names=["comparison"])
    return outputs(project)


def outputs(project: Path) -> tuple[pd.DataFrame, Path]:
    reporting = project / "data/08_reporting"
    return pd.read_csv(reporting / "run_comparison.csv"), reporting / "run_comparison.png"


@pytest.mark.slow
def test_the_tracked_runs_compared_in_a_table_and_a_figure(project: Path):
    _, ids = write_store(project)
    table, plot = run_comparison(project)
    assert tuple(table.columns) == COMPARISON_COLUMNS
    assert list(table["run_id"]) == [ids[i] for i in COMPARED]
    assert list(table["minutes"]) == [12.5, 6.0, 30.0]
    with Image.open(plot) as image:
        assert image.width > 500
    assert not list((project / "data").rglob("*.parquet"))  # nothing else ran


@pytest.mark.slow
def test_before_any_tracked_run_a_header_and_a_figure_that_says_so(project: Path):
    table, plot = run_comparison(project)
    assert table.empty
    assert tuple(table.columns) == COMPARISON_COLUMNS
    assert plot.stat().st_size > 0


@pytest.mark.slow
def test_the_command_as_typed(tmp_path: Path):
    copy_project(tmp_path)
    _, ids = write_store(tmp_path)
    result = kedro(["run", "--pipelines", "comparison"], tmp_path, BIT_FINETUNE_TRACKING="on")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table, plot = outputs(tmp_path)
    assert list(table["run_id"]) == [ids[i] for i in COMPARED]
    assert plot.stat().st_size > 0


@pytest.mark.slow
def test_kedro_viz_previews_the_runs_their_table_and_figure(project: Path):
    _, ids = write_store(project)
    run_comparison(project)
    api = build_site(project, previews=True) / "api"
    nodes = json.loads((api / "pipelines/comparison").read_text())["nodes"]
    previews = {node["name"]: json.loads((api / "nodes" / node["id"]).read_text())
                for node in nodes if node["type"] == "data"}
    assert {name: preview["preview_type"] for name, preview in previews.items()} == {
        "tracked_runs": "TablePreview", "run_comparison": "TablePreview",
        "run_comparison_plot": "ImagePreview"}
    table = previews["run_comparison"]["preview"]
    assert table["columns"] == list(COMPARISON_COLUMNS)
    run_ids = [row[table["columns"].index("run_id")] for row in table["data"]]
    assert run_ids == [ids[i] for i in COMPARED]
    assert previews["run_comparison_plot"]["preview"].startswith("iVBORw0KGgo")  # a PNG


def test_on_demand_only_with_stage_named_nodes():
    pipelines = register_pipelines()
    nodes = pipelines["comparison"].nodes
    assert {node.name for node in nodes} == {"comparison.compare_runs",
                                             "comparison.plot_comparison"}  # fmt: skip
    assert all(node.namespace == "comparison" and "comparison" in node.tags for node in nodes)
    assert pipelines["comparison"].inputs() == {"tracked_runs"}
    assert pipelines["comparison"].all_outputs() == {"run_comparison", "run_comparison_plot"}
    assert not set(pipelines["__default__"].nodes) & set(nodes)
