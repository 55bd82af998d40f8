"""The transfer demo's wiring: the stages' own nodes under namespaces, ordered by data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_project import as_cli, copy_project, kedro, recipe_folder

from bit_finetune.bit.description import Description, describe
from bit_finetune.catalog import KerasModelDataset
from bit_finetune.config import validate_all
from bit_finetune.pipeline_registry import register_pipelines
from bit_finetune.pipelines.transfer_demo import transfer_demo
from bit_finetune.pipelines.transfer_demo.nodes import start_from
from bit_finetune.settings import CONFIG_LOADER_ARGS, EnvironmentConfigLoader

CONF = Path(__file__).resolve().parents[3] / "conf"


@pytest.fixture(scope="module")
def demo():
    return transfer_demo()


@pytest.fixture(scope="module")
def config() -> EnvironmentConfigLoader:
    return EnvironmentConfigLoader(str(CONF), env="transfer_demo", **CONFIG_LOADER_ARGS)


def names(pipeline) -> set[str]:
    return {node.name for node in pipeline.nodes}


def test_registered_on_demand_only(demo):
    pipelines = register_pipelines()
    assert names(pipelines["transfer_demo"]) == names(demo)
    assert not names(pipelines["__default__"]) & names(demo)


def test_transfer_trains_after_the_export_and_scratch_does_not_wait_for_it(demo):
    before_transfer = names(demo.to_nodes("transfer.training.train_classifier"))
    assert {"upstream.training.train_classifier", "upstream.export_backbone",
            "transfer.start_from_upstream"} <= before_transfer  # fmt: skip
    before_scratch = names(demo.to_nodes("scratch.training.train_classifier"))
    assert not {name for name in before_scratch if name.startswith("upstream.")}
    assert names(demo.to_nodes("comparison.compare_runs")) == names(demo)


def test_both_downstream_runs_share_data_and_training_parameters(demo):
    nodes = {node.name: node for node in demo.nodes}
    transfer = nodes["transfer.training.train_classifier"]
    scratch = nodes["scratch.training.train_classifier"]
    assert transfer.inputs[:2] == scratch.inputs[:2] == [
        "downstream.tfrecord_shards", "downstream.hyperrule"]  # fmt: skip
    assert scratch.inputs[2] == "params:downstream.training"
    assert nodes["transfer.start_from_upstream"].inputs == [
        "params:downstream.training", "upstream.backbone"]  # fmt: skip


def test_start_from_sets_only_the_weights():
    params = {"model": {"architecture": "R14x0.25", "weights": "random"}, "seed": 3}
    result = start_from(params, "/data/upstream.npz")
    assert result == {"model": {"architecture": "R14x0.25", "weights": "/data/upstream.npz"},
                      "seed": 3}  # fmt: skip
    assert params["model"]["weights"] == "random"


def test_the_environment_holds_every_parameter_and_they_validate(demo, config):
    parameters = config["parameters"]
    validate_all(parameters)
    for name in (n.removeprefix("params:") for n in demo.inputs() if n.startswith("params:")):
        section = parameters
        for key in name.split("."):
            section = section[key]
    downstream = parameters["downstream"]["hyperrule"]["overrides"]
    assert not {"learning_rate", "warmup_steps", "lr_boundaries", "total_steps"} & set(downstream)


SMALL_ARCHITECTURE = "R14x0.25"
"""Both sides' architecture in the test, for the demo's R26x0.5."""
SHORT_SIDE = {
    "hyperrule": {"override_reason": "short test run",
                  "overrides": {"total_steps": 2, "warmup_steps": 0, "lr_boundaries": []}},
    "training": {"model": {"architecture": SMALL_ARCHITECTURE}, "progress": False},
}
"""Each side's changes: 2 steps a run, for a demo of seconds, not minutes. No warm-up: the
head starts at zero, so the backbone learns from the second step on, which a first step
at LR 0 would put off (the upstream backbone would stay its random init)."""
DEMO_PARAMS = as_cli({
    "profiling": {"progress": False}, "preprocessing": {"progress": False},
    "upstream": SHORT_SIDE, "downstream": SHORT_SIDE,
    "transfer_demo": {"evaluation": {"progress": False}},
})
"""``kedro run --params``: the demo shrunk to seconds a run, progress bars off (its transfer
gain is measured by ``bench/transfer_gain.py``, figure 10)."""
DEMO_TIMEOUT = 300
"""Seconds for the shrunk demo's run: 72 s on 2 cores shared with other work (load 4.6),
53 s of it CPU time."""


@pytest.mark.slow
@pytest.mark.timeout(DEMO_TIMEOUT + 60)
def test_demo_runs_end_to_end_and_transfers_the_upstream_backbone(tmp_path: Path):
    copy_project(tmp_path)
    command = ["run", "--env", "transfer_demo", "--pipelines", "transfer_demo",
               "--params", DEMO_PARAMS]  # fmt: skip
    result = kedro(command, tmp_path, timeout=DEMO_TIMEOUT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "retracing" not in output
    reporting = tmp_path / "data/transfer_demo/08_reporting"
    top1 = {run: json.loads((reporting / run / "metrics.json").read_text())["test"]["top1"]
            for run in ("transfer", "scratch", "upstream")}  # fmt: skip
    report = (reporting / "report.md").read_text()
    assert f"**{top1['transfer']:.1%}**" in report and f"**{top1['scratch']:.1%}**" in report
    with np.load(tmp_path / "data/transfer_demo/06_models/upstream/backbone.npz") as weights:
        assert "resnet/root_block/standardized_conv2d/kernel" in weights.files
        assert not [key for key in weights.files if key.startswith("resnet/head/")]
    models = tmp_path / "data/transfer_demo/06_models"
    transfer, scratch = (
        json.loads((recipe_folder(models / run / "training") / "recipe.json").read_text())["model"]
        for run in ("transfer", "scratch")
    )
    assert transfer["weights"] == str(models / "upstream/backbone.npz")
    assert "weights_sha256" in transfer and "weights_sha256" not in scratch  # random init
    described = {run: describe(KerasModelDataset(filepath=str(models / run / "classifier.keras"))
                               .load()) for run in ("transfer", "scratch")}  # fmt: skip
    assert described == {
        "transfer": Description(SMALL_ARCHITECTURE, str(models / "upstream/backbone.npz")),
        "scratch": Description(SMALL_ARCHITECTURE, "random"),
    }
    recipe = json.loads(
        (tmp_path / "data/transfer_demo/05_model_input/downstream/hyperrule.json").read_text()
    )
    assert (recipe["learning_rate"], recipe["total_steps"]) == (0.003, 2)  # the rule's LR
    assert set(recipe["overrides"]) == {"resize_size", "crop_size",
                                        *SHORT_SIDE["hyperrule"]["overrides"]}
