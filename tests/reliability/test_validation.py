"""A bad parameter fails the run before any artefact (the run record included) is written."""

from __future__ import annotations

import pytest
from reliability.project import new_project, run_in_process

from bit_finetune.config import ConfigError


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
        ({"hyperrule": {"overrides": {"lr_boundaries": 300}}},
         "hyperrule.overrides.lr_boundaries: expected a list"),
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
    project = new_project(tmp_path / "project")
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        run_in_process(project, params)  # the whole default pipeline
    written = [p for p in (project / "data").rglob("*") if p.is_file()]
    assert written == []
