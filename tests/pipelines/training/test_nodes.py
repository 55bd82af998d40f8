"""Training nodes with real shards and a small BiT: train, save, export, plot; and a
published weights name turned into the cached file the classifier loads."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from kedro_datasets.tensorflow import TensorFlowModelDataset
from tiny_project import recipe_folder
from weights_server import npz_bytes, serve

from bit_finetune.bit import classifier as model_code
from bit_finetune.bit.description import Description, describe
from bit_finetune.catalog import SavedModelDataset, WorkspaceDataset
from bit_finetune.errors import ConfigError
from bit_finetune.pipelines.training.nodes import (
    export_serving_model,
    train_classifier,
)
from bit_finetune.training import finetune
from bit_finetune.training.history import HISTORY_COLUMNS
from bit_finetune.training.loop import TrainingResult
from tests.training.tiny import COLOUR_SIZE, COLOURS, colour_shards, evaluated

SIZE, CROP = COLOUR_SIZE, 32


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    counts = {"train": 48, "validation": 12, "test": 9}
    return colour_shards(tmp_path_factory.mktemp("shards") / "set", counts)


HYPERRULE = {
    "resize_size": SIZE,
    "crop_size": CROP,
    "batch_size": 8,
    "learning_rate": 0.05,
    "warmup_steps": 1,
    "lr_boundaries": [4, 5, 5],
    "total_steps": 6,
    "mixup_alpha": 0.1,
    "num_classes": 3,
    "train_examples": 48,
    "median_area": 4096.0,
    "batch_policy": "official",
    "schedule_bucket": "small",
    "reasons": {},
    "overrides": {},
}
PARAMS = {
    "model": {"architecture": "R14x0.25", "weights": "random"},
    "strategy": "default",
    "log_every": 3,
    "checkpoint_every": 3,
    "progress": False,
}


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    workspace = WorkspaceDataset(str(root / "training")).load()
    features = WorkspaceDataset(str(root / "features")).load()
    model, history = train_classifier(shards, HYPERRULE, PARAMS, workspace, features)
    return model, history, workspace


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """An R14x0.25 backbone in the official .npz layout, and its arrays by key."""
    from bit_finetune.bit.backbone import build_backbone
    from bit_finetune.bit.npz import save_npz

    path = tmp_path_factory.mktemp("weights") / "R14.npz"
    save_npz(build_backbone("R14x0.25"), str(path))
    with np.load(path) as arrays:
        return str(path), dict(arrays)


def fine_tune(shards, tmp_path, finetune: str, weights: str, features=None):
    """``train_classifier`` with ``training.finetune`` and weights from a file."""
    params = {**PARAMS, "finetune": finetune, "model": {**PARAMS["model"], "weights": weights}}
    features = features or WorkspaceDataset(str(tmp_path / "features")).load()
    workspace = WorkspaceDataset(str(tmp_path / "training")).load()
    return train_classifier(shards, HYPERRULE, params, workspace, features)


def backbone_arrays(model) -> dict[str, np.ndarray]:
    from bit_finetune.bit.npz import weight_keys

    return {k: v.numpy() for k, v in weight_keys(model.get_layer("backbone")).items()}


def test_head_only_trains_the_head_on_persisted_features(shards, pretrained, tmp_path, caplog):
    path, arrays = pretrained
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        model, history = fine_tune(shards, tmp_path / "a", "head", path)
    assert "Backbone features of 48 train images computed" in caplog.text
    assert "Backbone features of 12 validation images computed" in caplog.text
    assert history["step"].tolist() == [3, 6]
    assert np.abs(model.get_layer("head").get_weights()[0]).sum() > 0
    assert describe(model) == Description("R14x0.25", path)  # the whole classifier
    for key, value in backbone_arrays(model).items():
        np.testing.assert_array_equal(value, arrays[key], err_msg=key)
    # validated on the validation features: the scores of the whole classifier
    accuracy, loss = evaluated(model, shards, CROP)
    assert history["val_accuracy"].iloc[-1] == pytest.approx(accuracy, abs=1e-9)
    assert history["val_loss"].iloc[-1] == pytest.approx(loss, rel=1e-4)
    stored = {
        split: next((tmp_path / "a" / "features").glob(f"{split}-*.npz"))
        for split in ("train", "validation")
    }
    stamps = {split: path.stat().st_mtime_ns for split, path in stored.items()}

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        again, _ = fine_tune(shards, tmp_path / "b", "head", path, tmp_path / "a" / "features")
    assert f"Backbone features of 48 train images read from {stored['train']}" in caplog.text
    assert f"Backbone features of 12 validation images read from {stored['validation']}" in (
        caplog.text
    )
    assert "images computed" not in caplog.text
    assert {split: path.stat().st_mtime_ns for split, path in stored.items()} == stamps
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)  # same features, same head


def test_fine_tuning_from_block4_keeps_the_earlier_blocks(shards, pretrained, tmp_path):
    path, arrays = pretrained
    model, _ = fine_tune(shards, tmp_path, "block4", path)
    assert describe(model) == Description("R14x0.25", path)
    trained = backbone_arrays(model)
    frozen = [k for k in trained if k.startswith(("resnet/root", "resnet/block1", "resnet/block3"))]
    moved = [k for k in trained if k.startswith("resnet/block4")]
    assert frozen and moved
    for key in frozen:
        np.testing.assert_array_equal(trained[key], arrays[key], err_msg=key)
    assert any(not np.array_equal(trained[key], arrays[key]) for key in moved)


def test_train_classifier_returns_the_model_and_history(trained, shards):
    model, history, workspace = trained
    assert model.output_shape == (None, 3)
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["step"].tolist() == [3, 6]
    assert history["val_accuracy"].notna().all()  # auto: every 3 steps
    accuracy, loss = evaluated(model, shards, CROP)
    assert history["val_accuracy"].iloc[-1] == pytest.approx(accuracy, abs=1e-9)
    assert history["val_loss"].iloc[-1] == pytest.approx(loss, rel=1e-4)
    checkpoints = recipe_folder(workspace) / "checkpoints"
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-6")
    head = model.get_layer("head").get_weights()[0]
    assert np.abs(head).sum() > 0  # the zero-initialised head has been trained


def test_saved_classifier_exports_a_serving_model(trained, tmp_path):
    model, _, _ = trained
    store = TensorFlowModelDataset(filepath=str(tmp_path / "classifier.keras"))
    store.save(model)
    classifier = store.load()
    module = export_serving_model(classifier, HYPERRULE, {"names": COLOURS})
    serving = SavedModelDataset(str(tmp_path / "serving"))
    serving.save(module)
    pixels = np.random.default_rng(1).integers(0, 256, (2, 50, 70, 3)).astype("uint8")
    out = serving.load().signatures["serve"](images=tf.constant(pixels))
    expected = tf.nn.softmax(model(tf.image.resize(pixels / 255.0, [CROP, CROP]))).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    assert {n.decode() for n in out["label_name"].numpy()} <= set(COLOURS)


# A published weights name: the training node turns it into the cached file the
# classifier loads.


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
    monkeypatch.setattr(model_code, "build_classifier", fake_build)
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
        model, _ = train_classifier({}, {**HYPERRULE, "num_classes": 3}, params, tmp_path / "ws", tmp_path / "f")
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
        with pytest.raises(
            ConfigError, match=r"^training\.model\.weights: waited 1 s for the chief"
        ):
            train_classifier({}, {**HYPERRULE, "num_classes": 3}, params, tmp_path / "ws", tmp_path / "f")
        assert sum(server.requests.values()) == 0
    assert built == []
