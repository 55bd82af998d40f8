"""A bad parameter fails the run before any artefact (the run record included) is written."""

from __future__ import annotations

import pytest
from tiny_project import copy_project, run_in_process

from bit_finetune.errors import ConfigError

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ingestion": {"seed": "x"}}, "ingestion.seed: expected int"),
        ({"training": {"checkpoint_evry": 5}},
         "training.checkpoint_evry: unknown parameter; valid keys are"),
        ({"training": {"deterministic": "yes"}}, "training.deterministic: expected true or false"),
        ({"training": {"cluster_start_timeout": 0}},
         "training.cluster_start_timeout: 0.0 is out of range"),
        ({"hyperrule": {"overrides": {"total_step": 50}}},
         "hyperrule.overrides.total_step: not a HyperRule value"),
        ({"hyperrule": {"overrides": {"crop_size": {"value": -1, "reason": "why not"}}}},
         "hyperrule.overrides.crop_size: -1 is out of range"),
        ({"hyperrule": {"overrides": {"lr_boundaries": "300 six"}}},
         "hyperrule.overrides.lr_boundaries: expected a list of steps"),
        ({"training": {"model": {"architecture": "R51x1"}}},
         "training.model.architecture: unknown BiT architecture"),
        ({"training": {"model": {"weights": "weights/BiT-M-R50x1.npz"}}},
         "training.model.weights: 'weights/BiT-M-R50x1.npz' not found"),
        ({"evaluation": {"batch_size": 0}}, "evaluation.batch_size: 0 is out of range"),
    ],
    ids=["type", "unknown-key", "deterministic-type", "start-timeout-range", "override-key",
         "override-range", "override-type", "architecture", "weights-path", "range"],
)
def test_bad_parameter_fails_before_any_artefact(tmp_path, monkeypatch, params, message):
    monkeypatch.chdir(tmp_path)
    project = copy_project(tmp_path / "project")
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        run_in_process(project, params)  # the whole default pipeline
    written = [p for p in (project / "data").rglob("*") if p.is_file()]
    assert written == []


def test_checks_run_for_the_stages_that_run(tmp_path, monkeypatch):
    """A missing weights file stops a run that trains, before any artefact, but not a run
    of the data stages, which never read it."""
    monkeypatch.chdir(tmp_path)
    project = copy_project(tmp_path / "project")
    missing = {"training": {"model": {"weights": str(tmp_path / "BiT-M-R50x1.npz")}}}
    run_in_process(project, missing, pipeline_names=["ingestion", "profiling", "filtering",
                                                     "hyperrule"])
    assert (project / "data/05_model_input/hyperrule.json").exists()
    before = sorted(p for p in (project / "data").rglob("*") if p.is_file())
    with pytest.raises(ConfigError, match=r"training\.model\.weights: '.*' not found"):
        run_in_process(project, missing, pipeline_names=["training"])
    assert sorted(p for p in (project / "data").rglob("*") if p.is_file()) == before


def test_an_environment_without_an_image_source_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = copy_project(tmp_path / "project")
    (project / "conf/empty").mkdir()
    (project / "conf/empty/parameters.yml").write_text("ingestion:\n  seed: 1\n")
    with pytest.raises(ConfigError, match="raw_images: the environment 'empty' has no image"):
        run_in_process(project, env="empty", pipeline_names=["ingestion"])
    assert not (project / "data").exists() or not any((project / "data").rglob("*.*"))
