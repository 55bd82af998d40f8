"""The training node turns a published name into the cached file the classifier loads."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from weights_server import npz_bytes, serve

from bit_finetune import bit
from bit_finetune.errors import ConfigError
from bit_finetune.pipelines.training.nodes import train_classifier
from bit_finetune.training import finetune
from bit_finetune.training.loop import TrainingResult


@pytest.fixture()
def weights_names() -> list[str]:
    """The names the built classifiers record their weights by."""
    return []


@pytest.fixture()
def built(monkeypatch, weights_names):
    """Record what the node builds the classifier from (training itself is not run)."""
    calls = []

    def fake_finetune(build_classifier, shards, recipe, params, workspace, features):
        return TrainingResult(build_classifier(), pd.DataFrame(), 0, 0)

    def fake_build(*args, weights_name):
        calls.append(args)
        weights_names.append(weights_name)
        return "model"

    monkeypatch.setattr(finetune, "finetune", fake_finetune)
    monkeypatch.setattr(bit, "build_classifier", fake_build)
    return calls


@pytest.mark.parametrize("tf_config", [None, "chief"])
def test_a_name_reaches_build_classifier_as_the_cached_file(
    built, weights_names, tmp_path, monkeypatch, tf_config
) -> None:
    if tf_config:
        cluster = {"cluster": {"chief": ["h0:1"], "worker": ["h1:1"]}, "task": {"type": "chief"}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    with serve() as server:
        server.files["/BiT-M-R50x1.npz"] = npz_bytes()
        params = {
            "model": {"weights": "BiT-M-R50x1", "cache_dir": str(tmp_path), "base_url": server.url},
            "progress": False,
        }
        model, _ = train_classifier({}, {"num_classes": 3}, params, tmp_path / "ws", tmp_path / "f")
    assert model == "model"
    assert built == [("R50x1", 3, str(tmp_path / "BiT-M-R50x1.npz"))]
    assert weights_names == ["BiT-M-R50x1"]  # the classifier records the name, not the file
    assert (tmp_path / "BiT-M-R50x1.npz").read_bytes() == npz_bytes()


def test_a_worker_does_not_download(built, tmp_path, monkeypatch) -> None:
    cluster = {"cluster": {"worker": ["h0:1", "h1:1"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    with serve() as server:
        server.files["/BiT-M-R50x1.npz"] = npz_bytes()
        params = {
            "model": {
                "weights": "BiT-M-R50x1",
                "cache_dir": str(tmp_path),
                "base_url": server.url,
                "download_wait": 1,
            },
        }
        with pytest.raises(ConfigError, match=r"^training\.model\.weights: waited 1 s for the chief"):
            train_classifier({}, {"num_classes": 3}, params, tmp_path / "ws", tmp_path / "f")
        assert sum(server.requests.values()) == 0
    assert built == []
