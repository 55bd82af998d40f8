"""Distributed inference: one prediction per example, lined up with its id and label."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from bit_finetune.bit.description import Description, describe
from bit_finetune.evaluation.inference import (
    SplitPredictions,
    in_strategy_scope,
    predict_split,
    read_images,
    read_keys,
)
from tests.evaluation.toy import CROP_SIZE, LABEL_NAMES, PREDICTION_COLUMNS, toys

ROOT = Path(__file__).resolve().parents[2]


def test_every_example_gets_its_own_prediction(shards, model, toy_splits):
    # batch 4 over 10 examples: the last batch is partial
    result = predict_split(
        model,
        shards,
        "test",
        crop_size=CROP_SIZE,
        batch_size=4,
        strategy=tf.distribute.get_strategy(),
        progress=False,
    )
    test = toy_splits["test"]
    assert result.ids.tolist() == [t.id for t in test]
    assert result.labels.tolist() == [t.label for t in test]
    assert result.probabilities.shape == (10, 3)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # the colour model predicts each image's colour, whatever its label says
    assert result.probabilities.argmax(axis=1).tolist() == [t.colour for t in test]
    np.testing.assert_allclose(
        result.probabilities.max(axis=1), [t.confidence for t in test], rtol=1e-4
    )


def test_read_keys_lists_ids_and_labels_in_record_order(shards, toy_splits):
    ids, labels = read_keys(shards.files("validation"))
    assert ids.tolist() == [t.id for t in toy_splits["validation"]]
    assert labels.dtype == np.int64
    assert labels.tolist() == [t.label for t in toy_splits["validation"]]


def test_read_images_decodes_only_the_wanted_ids(shards, toy_splits):
    by_id = {t.id: t for t in toy_splits["test"]}
    images = read_images(shards.files("test"), ["test-04", "test-08", "no-such-id"])
    assert sorted(images) == ["test-04", "test-08"]
    for key, image in images.items():
        np.testing.assert_array_equal(image, by_id[key].image())
    assert read_images(shards.files("test"), []) == {}


def test_model_is_copied_into_a_strategy_that_does_not_own_it(model):
    default = tf.distribute.get_strategy()
    assert in_strategy_scope(model, default) is model
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    copy = in_strategy_scope(model, one_device)
    assert copy is not model
    assert one_device.extended.variable_created_in_scope(copy.weights[0].value)
    images = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(copy(images), model(images), rtol=1e-6)
    assert describe(copy) == describe(model) == Description("R14x0.25", "random")


def test_table_has_the_predictions_columns_and_survives_parquet(tmp_path):
    result = SplitPredictions(
        ids=np.array(["a", "b"], dtype=object),
        labels=np.array([0, 2]),
        probabilities=np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], dtype=np.float32),
    )
    table = result.table("test", LABEL_NAMES)
    assert list(table.columns) == PREDICTION_COLUMNS
    assert table["predicted_name"].tolist() == ["red", "green"]
    assert table["correct"].tolist() == [True, False]
    assert table["confidence"].tolist() == pytest.approx([0.7, 0.6])
    table.to_parquet(tmp_path / "p.parquet")
    back = pd.read_parquet(tmp_path / "p.parquet")
    assert [list(t) for t in back["top_labels"]] == [[0, 1, 2], [1, 2, 0]]
    assert back["label"].dtype == np.int64


MIRRORED_RUN = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from bit_finetune.evaluation.inference import predict_split
from tests.evaluation.toy import colour_model, toys, write_shards
shards = write_shards(Path(sys.argv[1]), {"test": toys("test", 7, {2: 0})}, per_shard=2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = predict_split(colour_model(), shards, "test", crop_size=4, batch_size=4,
                       strategy=strategy, progress=False)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "ids": result.ids.tolist(),
                  "labels": result.labels.tolist(),
                  "predicted": result.probabilities.argmax(1).tolist()}))
"""


@pytest.mark.slow
def test_mirrored_over_two_replicas_keeps_ids_and_predictions_together(tmp_path):
    # 7 examples, global batch 4: the replicas get 2+2, then 2+1.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, "-c", MIRRORED_RUN, str(tmp_path / "shards")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    expected = toys("test", 7, {2: 0})
    assert out["replicas"] == 2
    assert out["ids"] == [t.id for t in expected]
    assert out["labels"] == [t.label for t in expected]
    assert out["predicted"] == [t.colour for t in expected]
