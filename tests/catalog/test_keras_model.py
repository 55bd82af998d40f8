"""KerasModelDataset: the classifier's catalog type, with the options and files of
kedro-datasets' TensorFlowModelDataset, TensorFlow imported only to load or save."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.bit.description import Description, describe
from bit_finetune.catalog import KerasModelDataset
from bit_finetune.catalog.kedro_private import make_saves_atomic


def model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def same_weights(a: keras.Model, b: keras.Model) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_save_load_exists_and_describe(tmp_path: Path):
    dataset = KerasModelDataset(filepath=str(tmp_path / "models/c.keras"),
                                load_args={"compile": False}, save_args={"overwrite": True})
    assert not dataset.exists()
    saved = model(0)
    dataset.save(saved)
    assert dataset.exists() and (tmp_path / "models/c.keras").is_file()
    assert same_weights(dataset.load(), saved)
    described = dataset._describe()
    assert described["load_args"] == {"safe_mode": True, "compile": False}
    assert described["save_args"] == {"overwrite": True}
    assert described["protocol"] == "file"


def test_a_saved_classifier_keeps_its_description(tmp_path: Path):
    dataset = KerasModelDataset(filepath=str(tmp_path / "classifier.keras"))
    dataset.save(build_classifier("R14x0.25", 2, weights_name="BiT-M-R50x1"))
    assert describe(dataset.load()) == Description("R14x0.25", "BiT-M-R50x1")


def test_a_file_saved_by_kedro_datasets_type_loads(tmp_path: Path):
    from kedro_datasets.tensorflow import TensorFlowModelDataset

    TensorFlowModelDataset(filepath=str(tmp_path / "c.keras")).save(model(1))
    assert same_weights(KerasModelDataset(filepath=str(tmp_path / "c.keras")).load(), model(1))


def test_versioned_saves_and_loads(tmp_path: Path):
    dataset = KerasModelDataset(filepath=str(tmp_path / "c.keras"), version=Version(None, None))
    dataset.save(model(0))
    versions = list((tmp_path / "c.keras").iterdir())
    assert len(versions) == 1 and (versions[0] / "c.keras").is_file()
    assert same_weights(dataset.load(), model(0))
    pinned = KerasModelDataset(filepath=str(tmp_path / "c.keras"),
                               version=Version(versions[0].name, None))
    assert same_weights(pinned.load(), model(0))


def test_atomic_saves_keep_the_old_model_when_saving_fails(tmp_path: Path):
    dataset = KerasModelDataset(filepath=str(tmp_path / "c.keras"))
    assert make_saves_atomic(dataset)
    dataset.save(model(0))
    with pytest.raises(DatasetError):
        dataset.save(object())
    assert same_weights(dataset.load(), model(0))
    assert [p.name for p in tmp_path.iterdir()] == ["c.keras"]


def test_a_missing_model_is_a_dataset_error(tmp_path: Path):
    with pytest.raises(DatasetError):
        KerasModelDataset(filepath=str(tmp_path / "none.keras")).load()
