"""SavedModelDataset: atomic SavedModel saves, loads and existence."""

from __future__ import annotations

import pytest
import tensorflow as tf
from kedro.io import DatasetError

from bit_finetune.catalog import SavedModelDataset


class Doubler(tf.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = tf.Variable(factor)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return x * self.factor

    def serving_signatures(self):
        return {"serving_default": self.__call__.get_concrete_function()}


def test_save_load_exists(tmp_path):
    dataset = SavedModelDataset(path=str(tmp_path / "serving"))
    assert not dataset.exists()
    dataset.save(Doubler(2.0))
    assert dataset.exists() and (tmp_path / "serving" / "saved_model.pb").is_file()
    loaded = dataset.load()
    assert loaded(tf.constant([3.0])).numpy().tolist() == [6.0]
    assert list(loaded.signatures) == ["serving_default"]


def test_overwrite_replaces_and_leaves_no_temporaries(tmp_path):
    dataset = SavedModelDataset(path=str(tmp_path / "serving"))
    dataset.save(Doubler(2.0))
    dataset.save(Doubler(5.0))
    assert dataset.load()(tf.constant([1.0])).numpy().tolist() == [5.0]
    assert [p.name for p in tmp_path.iterdir()] == ["serving"]


def test_a_failed_save_keeps_the_previous_model(tmp_path):
    dataset = SavedModelDataset(path=str(tmp_path / "serving"))
    dataset.save(Doubler(2.0))
    with pytest.raises(DatasetError):
        dataset.save(object())  # not trackable: tf.saved_model.save fails
    assert dataset.load()(tf.constant([1.0])).numpy().tolist() == [2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["serving"]


def test_loading_a_missing_model_says_how_to_make_it(tmp_path):
    with pytest.raises(DatasetError, match="kedro run --nodes training.export_serving_model"):
        SavedModelDataset(path=str(tmp_path / "nothing")).load()
