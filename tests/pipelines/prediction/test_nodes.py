"""Batch prediction on a folder of good and broken images, as a node and as a Kedro run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image
from tiny_project import copy_project

from bit_finetune.catalog import ImageFolderDataset, SavedModelDataset
from bit_finetune.hyperrule import derive
from bit_finetune.pipelines.prediction.nodes import predict_images
from tests.pipelines.prediction.tiny_serving import NAMES, export_tiny_model

RESIZE = 32
PARAMS = {"top_k": 5, "batch_size": 2, "progress": False}


@pytest.fixture(scope="module")
def serving_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A serving model whose prediction depends on the image (random backbone and head)."""
    return export_tiny_model(
        tmp_path_factory.mktemp("model") / "serving", bias=[0.0, 0.5, -0.5], kernel_scale=0.02
    )


@pytest.fixture(scope="module")
def serving_model(serving_path: Path) -> Any:
    return SavedModelDataset(str(serving_path)).load()


def expected_probabilities(serving_model: Any, path: Path) -> np.ndarray:
    """What the model says about a plain RGB file resized as preprocessing does."""
    with Image.open(path) as image:
        pixels = np.asarray(
            image.convert("RGB").resize((RESIZE, RESIZE), Image.Resampling.BILINEAR)
        )
    out = serving_model.signatures["serve"](images=tf.constant(pixels[None]))
    return out["probabilities"].numpy()[0]


def test_one_row_per_file_errors_for_broken_ones(serving_model, predict_folder):
    root, expected = predict_folder
    source = ImageFolderDataset(str(root), labelled=False).load()

    table = predict_images(source, serving_model, {"resize_size": RESIZE}, PARAMS)

    assert sorted(table["id"]) == sorted(expected)
    assert table["id"].is_unique
    assert table["uri"].tolist() == [str(root / i) for i in table["id"]]
    failed = dict(zip(table["id"], table["error"].notna()))
    assert failed == {name: not good for name, good in expected.items()}
    errors = table.set_index("id")["error"]
    assert errors["corpus/empty.jpg"] == "empty file"
    assert errors["corpus/text.jpg"] == "not an image (unrecognised format)"
    assert errors["corpus/bomb.png"].startswith("too many pixels")
    assert "truncated" in errors["corpus/truncated.jpg"]
    broken = table[table["error"].notna()]
    assert broken["predicted_name"].isna().all() and broken["confidence"].isna().all()
    assert broken["top_k_names"].isna().all()


def test_probabilities_are_sane_and_belong_to_their_own_image(serving_model, predict_folder):
    root, _ = predict_folder
    source = ImageFolderDataset(str(root), labelled=False).load()

    table = predict_images(source, serving_model, {"resize_size": RESIZE}, PARAMS)

    good = table[table["error"].isna()]
    for row in good.itertuples():
        probabilities = np.asarray(row.top_k_probabilities)
        assert sorted(row.top_k_names) == sorted(NAMES)  # top_k 5 capped at 3 classes
        assert np.all(np.diff(probabilities) <= 0) and np.all(probabilities >= 0)
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        assert (row.predicted_name, row.confidence) == (row.top_k_names[0], probabilities[0])
    plain = good[~good["id"].str.startswith("corpus/")]
    assert len(plain) == 7
    seen = set()
    for row in plain.itertuples():
        truth = expected_probabilities(serving_model, Path(row.uri))
        by_name = dict(zip(row.top_k_names, row.top_k_probabilities))
        np.testing.assert_allclose([by_name[n] for n in NAMES], truth, atol=1e-5)
        seen.add(round(row.confidence, 4))
    assert len(seen) > 1, "the images should not all get the same prediction"


def test_top_k_lists_the_k_most_probable(serving_model, predict_folder):
    root, _ = predict_folder
    source = ImageFolderDataset(str(root), labelled=False).load()
    full = predict_images(source, serving_model, {"resize_size": RESIZE}, PARAMS)
    two = predict_images(source, serving_model, {"resize_size": RESIZE}, {**PARAMS, "top_k": 2})
    for a, b in zip(
        full.dropna(subset=["confidence"]).itertuples(),
        two.dropna(subset=["confidence"]).itertuples(),
    ):
        assert list(b.top_k_names) == list(a.top_k_names[:2])
        np.testing.assert_allclose(b.top_k_probabilities, a.top_k_probabilities[:2], atol=1e-6)


@pytest.mark.slow
def test_kedro_run_prediction_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serving_path: Path, image_folder
):
    """`kedro run --pipelines prediction` with the project's own catalog and parameters."""
    monkeypatch.chdir(tmp_path)
    conf = copy_project(tmp_path) / "conf"
    data = tmp_path / "data"
    shutil.copytree(serving_path, data / "06_models/serving")
    recipe = derive(
        train_examples=100,
        median_area=1024,
        num_classes=3,
        overrides={"resize_size": RESIZE, "crop_size": 24},
    )
    (data / "05_model_input").mkdir(parents=True)
    (data / "05_model_input/hyperrule.json").write_text(json.dumps(recipe))
    image_folder(data / "01_raw/predict", classes=("a",), per_class=3)
    (data / "01_raw/predict/a/broken.jpg").write_bytes(b"not a jpeg")
    bootstrap_project(tmp_path)

    with KedroSession.create(project_path=conf.parent) as session:
        session.run(pipeline_names=["prediction"])

    table = pd.read_parquet(data / "07_model_output/batch_predictions.parquet")
    assert len(table) == 4
    assert table.set_index("id")["error"].notna().to_dict() == {
        "a/000.jpg": False,
        "a/001.png": False,
        "a/002.jpg": False,
        "a/broken.jpg": True,
    }
    assert set(table["predicted_name"].dropna()) <= set(NAMES)
    assert all(len(names) == 3 for names in table["top_k_names"].dropna())
