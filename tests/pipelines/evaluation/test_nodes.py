"""Evaluation nodes and pipeline: metrics, predictions and the two report figures."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.tensorflow import TensorFlowModelDataset
from matplotlib.figure import Figure

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.pipelines.evaluation.nodes import (
    evaluate_classifier,
    plot_confusion_matrix,
    plot_worst_mistakes,
)
from tests.evaluation.toy import (
    LABEL_NAMES,
    PREDICTION_COLUMNS,
    colour_model,
    toys,
    write_shards,
)
from tests.training.tiny import tiny_recipe

LABEL_MAP = {"names": LABEL_NAMES}
HYPERRULE = tiny_recipe(resize_size=8, crop_size=4)
PARAMS = {"splits": ["test", "validation"], "batch_size": 4, "worst_mistakes": 2, "progress": False}


@pytest.fixture(scope="module")
def evaluated(model, shards):
    return evaluate_classifier(model, shards, HYPERRULE, LABEL_MAP, PARAMS)


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in [*ax.texts, ax.title]]


def renders(fig: Figure) -> bool:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue().startswith(b"\x89PNG")


def test_metrics_cover_the_configured_splits_only(evaluated):
    metrics, _ = evaluated
    assert set(metrics) == {"model", "test", "validation"}
    test = metrics["test"]
    # labels [0,2,2,0,0,2,0,1,1,0], predicted colours [0,1,2,0,1,2,0,1,2,0]
    assert test["confusion_matrix"] == [[4, 1, 0], [0, 1, 1], [0, 1, 2]]
    assert test["examples"] == 10
    assert test["top1"] == pytest.approx(0.7)
    assert "top5" not in test
    assert test["per_class"]["green"] == {
        "precision": pytest.approx(1 / 3),
        "recall": 0.5,
        "f1": pytest.approx(0.4),
        "support": 2,
    }
    assert metrics["validation"]["top1"] == 1.0
    assert metrics["model"] == {
        "name": "R14x0.25_colour",
        "architecture": "R14x0.25",
        "parameters": 12,
        "num_classes": 3,
        "resize_size": 8,
        "crop_size": 4,
    }
    json.dumps(metrics)


def test_predictions_hold_one_row_per_example(evaluated, toy_splits, tmp_path):
    _, predictions = evaluated
    assert list(predictions.columns) == PREDICTION_COLUMNS
    assert predictions["split"].value_counts().to_dict() == {"test": 10, "validation": 5}
    expected = toy_splits["test"] + toy_splits["validation"]
    assert predictions["id"].tolist() == [t.id for t in expected]
    assert predictions["predicted"].tolist() == [t.colour for t in expected]
    assert predictions["correct"].tolist() == [t.label == t.colour for t in expected]
    assert predictions.loc[1, ["label_name", "predicted_name"]].tolist() == ["blue", "green"]
    dataset = ParquetDataset(filepath=str(tmp_path / "predictions.parquet"))
    dataset.save(predictions)
    assert dataset.load()["id"].tolist() == predictions["id"].tolist()


def test_absent_and_empty_splits_are_skipped_with_a_log_line(tmp_path, model, caplog):
    shards = write_shards(tmp_path / "shards", {"train": toys("train", 3), "test": []})
    params = {**PARAMS, "splits": ["test", "holdout"]}
    with caplog.at_level(logging.INFO, logger="bit_finetune"):
        metrics, predictions = evaluate_classifier(model, shards, HYPERRULE, LABEL_MAP, params)
    assert set(metrics) == {"model"}
    assert predictions.empty and list(predictions.columns) == PREDICTION_COLUMNS
    log = caplog.text
    assert "split 'test' is empty" in log
    assert "no split 'holdout'" in log and "evaluation.splits" in log


def test_a_classifier_for_another_label_map_is_refused(shards):
    with pytest.raises(ValueError, match="predicts 4 classes but label_map names 3"):
        evaluate_classifier(colour_model(num_classes=4), shards, HYPERRULE, LABEL_MAP, PARAMS)


def test_confusion_matrix_plot_annotates_counts(evaluated):
    _, predictions = evaluated
    fig = plot_confusion_matrix(predictions, LABEL_MAP)
    assert isinstance(fig, Figure)
    heatmap = fig.axes[0]
    assert sorted(int(t.get_text()) for t in heatmap.texts) == sorted([4, 1, 0, 0, 1, 1, 0, 1, 2])
    # rows are normalised: the green row (1 right, 1 wrong) shows 0.5 and 0.5
    np.testing.assert_allclose(heatmap.images[0].get_array()[1], [0, 0.5, 0.5])
    assert "10 examples" in heatmap.get_title()
    assert [t.get_text() for t in heatmap.get_yticklabels()] == LABEL_NAMES
    assert renders(fig)


def test_plots_say_so_when_the_test_split_was_not_evaluated(evaluated, shards):
    _, predictions = evaluated
    validation_only = predictions[predictions["split"] == "validation"]
    for fig in (
        plot_confusion_matrix(validation_only, LABEL_MAP),
        plot_worst_mistakes(validation_only, shards, LABEL_MAP, PARAMS),
    ):
        assert any("No predictions on the test split" in t for t in texts(fig))


def test_worst_mistakes_shows_the_most_confident_wrong_predictions(evaluated, shards, toy_splits):
    _, predictions = evaluated
    fig = plot_worst_mistakes(predictions, shards, LABEL_MAP, PARAMS)
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(tiles) == 2  # worst_mistakes: 2 of the 3 mistakes
    by_id = {t.id: t for t in toy_splits["test"]}
    # test-08 (brightest, so most confident) first, then test-04; test-01 left out
    for ax, key in zip(tiles, ["test-08", "test-04"]):
        title = ax.get_title()
        assert title.startswith(key)
        assert f"true: {LABEL_NAMES[by_id[key].label]}" in title
        assert f"predicted: {LABEL_NAMES[by_id[key].colour]} ({by_id[key].confidence:.1%})" in title
        np.testing.assert_array_equal(ax.images[0].get_array(), by_id[key].image())
    assert fig.get_suptitle().endswith("\n2 of 3 mistakes (30.0% of 10 examples)")
    assert renders(fig)


def test_worst_mistakes_without_mistakes_says_so(evaluated, shards):
    _, predictions = evaluated
    fig = plot_worst_mistakes(predictions.assign(correct=True), shards, LABEL_MAP, PARAMS)
    assert isinstance(fig, Figure)
    assert not any(ax.images for ax in fig.axes)
    assert any("No mistakes" in t for t in texts(fig))
    assert renders(fig)


def test_a_saved_bit_classifier_is_evaluated(shards, tmp_path):
    # The catalog's `classifier` round trip: build, save as .keras, load, evaluate.
    dataset = TensorFlowModelDataset(filepath=str(tmp_path / "classifier.keras"))
    dataset.save(build_classifier("R14x0.25", len(LABEL_NAMES)))
    metrics, predictions = evaluate_classifier(
        dataset.load(), shards, HYPERRULE, LABEL_MAP, {**PARAMS, "splits": ["validation"]}
    )
    assert metrics["model"]["architecture"] == "R14x0.25"
    # the head starts at zero: every class is equally likely
    np.testing.assert_allclose(predictions["confidence"], 1 / 3, rtol=1e-5)
    assert len(predictions) == metrics["validation"]["examples"] == 5
