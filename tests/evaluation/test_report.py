"""The Markdown run report on small synthetic artefacts: tables present, numbers right."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bit_finetune.evaluation.metrics import split_metrics
from bit_finetune.evaluation.report import FIGURES
from bit_finetune.hyperrule import derive
from bit_finetune.pipelines.evaluation.nodes import write_report

NAMES = ["cat", "dog", "a|b"]


def markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each table of ``text`` as rows of {header: cell}, keyed by the heading above it."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading, block = "", []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            cells = [
                [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]]
                for row in block
            ]
            tables[heading] = [dict(zip(cells[0], row)) for row in cells[2:]]
            block = []
        if line.startswith("#"):
            heading = line.lstrip("# ")
    return tables


@pytest.fixture
def artefacts() -> dict:
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    predicted = np.array([0, 1, 1, 1, 2, 2, 0, 0])  # 6 of 8 right
    probabilities = np.full((8, 3), 0.1)
    probabilities[np.arange(8), predicted] = 0.8
    test = split_metrics(labels, probabilities, NAMES)
    validation = split_metrics(labels[:4], probabilities[:4], NAMES)
    profile_summary = {
        "examples": 20,
        "decodable": 18,
        "per_split": {"train": 10, "validation": 4, "test": 6},
        "per_class": {name: {"total": 6} for name in NAMES},
        "width": {
            "p0": 8.0,
            "p5": 9.0,
            "p25": 10.0,
            "p50": 12.0,
            "p75": 13.0,
            "p95": 15.0,
            "p100": 16.0,
        },
        "height": {
            "p0": 8.0,
            "p5": 8.5,
            "p25": 9.0,
            "p50": 11.0,
            "p75": 12.0,
            "p95": 14.0,
            "p100": 15.0,
        },
        "formats": {"PNG": 15, "JPEG": 3, "unknown": 2},
        "undecodable": {"count": 2, "examples": []},
    }
    rejected = pd.DataFrame(
        {
            "id": ["x/1.jpg", "x/2.jpg", "y/3.png"],
            "uri": ["u1", "u2", "u3"],
            "label_name": ["cat", "dog", "cat"],
            "split": ["train", "test", "train"],
            "reason": ["undecodable", "undecodable", "too_small"],
            "detail": ["empty file", "not an image", "4x4 < min_side 5"],
        }
    )
    hyperrule = derive(
        train_examples=10,
        median_area=132.0,
        num_classes=3,
        batch_size=64,
        overrides={"learning_rate": {"value": 0.1, "reason": "from scratch"}},
    )
    history = pd.DataFrame(
        {
            "step": [10, 20, 30],
            "loss": [1.2, 0.6, 0.25],
            "learning_rate": [0.1, 0.1, 0.01],
            "accuracy": [0.5, 0.75, 0.875],
            "images_per_second": [100.0, 200.0, 300.0],
            "val_loss": [np.nan, 0.4, 0.45],
            "val_accuracy": [np.nan, 0.9, 0.85],
        }
    )
    metrics = {
        "model": {
            "name": "bit_R14x0_25",
            "architecture": "R14x0.25",
            "parameters": 123456,
            "num_classes": 3,
            "resize_size": 160,
            "crop_size": 128,
        },
        "test": test,
        "validation": validation,
    }
    return {
        "profile_summary": profile_summary,
        "rejected_images": rejected,
        "hyperrule": hyperrule,
        "training_history": history,
        "metrics": metrics,
    }


def test_results_table_per_split(artefacts):
    text = write_report(**artefacts)
    results = {row["split"]: row for row in markdown_tables(text)["Results"]}
    assert list(results) == ["test", "validation"]
    assert results["test"]["examples"] == "8"
    assert results["test"]["top-1"] == "75.00%"
    assert results["test"]["top-5"] == "n/a"  # only 3 classes
    macro_f1 = artefacts["metrics"]["test"]["macro_f1"]
    assert results["test"]["macro F1"] == f"{macro_f1:.4f}"
    assert results["validation"]["top-1"] == "75.00%"
    assert "Model **R14x0.25** (123,456 parameters), 3 classes" in text


def test_per_class_table_for_each_split(artefacts):
    tables = markdown_tables(write_report(**artefacts))
    for split in ("test", "validation"):
        rows = {row["class"]: row for row in tables[split]}
        assert list(rows) == NAMES  # a "|" in a class name does not break the table
        scores = artefacts["metrics"][split]["per_class"]
        for name in NAMES:
            assert rows[name]["precision"] == f"{scores[name]['precision']:.4f}"
            assert rows[name]["F1"] == f"{scores[name]['f1']:.4f}"
            assert rows[name]["support"] == str(scores[name]["support"])
    assert tables["test"][2]["recall"] == f"{2 / 3:.4f}"


def test_hyperrule_table_shows_values_reasons_and_overrides(artefacts):
    rows = {row["setting"]: row for row in markdown_tables(write_report(**artefacts))["HyperRule"]}
    assert list(rows) == [
        "resize_size", "crop_size", "batch_size", "learning_rate",
        "warmup_steps", "lr_boundaries", "total_steps", "mixup_alpha",
    ]  # fmt: skip
    assert rows["learning_rate"]["value"] == "0.1"
    assert rows["learning_rate"]["overridden"] == "yes (rule: 0.003)"
    assert rows["learning_rate"]["reason"].startswith("overridden: from scratch")
    assert (rows["resize_size"]["value"], rows["crop_size"]["value"]) == ("160", "128")
    assert rows["resize_size"]["overridden"] == "no"
    assert rows["resize_size"]["reason"] == artefacts["hyperrule"]["reasons"]["resize_size"]
    assert rows["lr_boundaries"]["value"] == "200, 300, 400"


def test_data_rejections_and_training(artefacts):
    text = write_report(**artefacts)
    rejected = {row["reason"]: row for row in markdown_tables(text)["Rejected images"]}
    assert rejected["undecodable"]["images"] == "2"
    assert rejected["undecodable"]["example"] == "x/1.jpg"
    assert rejected["too_small"]["detail"] == "4x4 < min_side 5"
    assert "3 images rejected" in text
    assert "20 images (train 10, validation 4, test 6), 18 decodable, 3 classes" in text
    assert "Median size 12 x 11 pixels" in text
    assert (
        "Final step 30: loss 0.2500, train accuracy 87.50%, learning rate 0.01; "
        "200.0 images per second on average." in text
    )
    assert (
        "Validation during training: top-1 85.00% (loss 0.4500) at step 30; the best, "
        "90.00%, at step 20." in text
    )


@pytest.mark.parametrize("history", ["off", "older"])
def test_training_without_validation_has_no_validation_line(artefacts, history):
    """Validation off (empty columns), or a history written before it (no columns)."""
    table = artefacts["training_history"]
    artefacts["training_history"] = (
        table.assign(val_loss=np.nan, val_accuracy=np.nan)
        if history == "off"
        else table.drop(columns=["val_loss", "val_accuracy"])
    )
    text = write_report(**artefacts)
    assert "Final step 30" in text and "Validation during training" not in text


def test_links_every_plot_relative_to_the_report(artefacts):
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", write_report(**artefacts))
    assert sorted(links) == sorted(path for _, path in FIGURES.values())
    assert sorted(links) == sorted([
        "resolution_profile.png", "class_balance.png", "training_curves.png",
        "confusion_matrix.png", "worst_mistakes.png",
    ])  # fmt: skip


def test_empty_history_and_no_rejections(artefacts):
    artefacts["training_history"] = artefacts["training_history"].iloc[:0]
    artefacts["rejected_images"] = artefacts["rejected_images"].iloc[:0]
    text = write_report(**artefacts)
    assert "No training steps were recorded." in text
    assert "None: every image was kept." in text
