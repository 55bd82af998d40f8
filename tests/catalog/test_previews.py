"""kedro-viz previews of the project's dataset types: small, JSON-ready, never expensive."""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from kedro.io import DatasetError

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.catalog import (
    DigitsDataset,
    ImageFolderDataset,
    ParquetTableDataset,
    SavedModelDataset,
    TFDSDataset,
)
from bit_finetune.catalog.bit_weights import BiTWeightsDataset
from bit_finetune.catalog.keras_model import KerasModelDataset
from bit_finetune.catalog.markdown import MarkdownDataset
from bit_finetune.catalog.tfrecord_shards import TFRecordShardsDataset
from bit_finetune.catalog.tracked_runs import TrackedRunsDataset
from bit_finetune.catalog.training_workspace import WorkspaceDataset
from tests.data.test_tfds import TinyShapes

SOURCE_COLUMNS = ["id", "uri", "label_name", "split"]


def strict_json(preview: object) -> object:
    """What kedro-viz sends: fails on NaN, numpy values or pandas' NA."""
    return json.loads(json.dumps(preview, allow_nan=False))


def test_digits_preview_lists_the_first_examples():
    preview = DigitsDataset().preview(nrows=3)
    assert preview["columns"] == SOURCE_COLUMNS
    assert preview["data"] == [
        ["digits/0000", "digits:0000", "0", None],
        ["digits/0001", "digits:0001", "1", None],
        ["digits/0002", "digits:0002", "2", None],
    ]
    assert strict_json(preview) == preview


def test_image_folder_preview_lists_images_without_decoding(tmp_path: Path, image_folder):
    root = image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=3)
    (root / "cat" / "broken.jpg").write_bytes(b"not an image")  # listed, never decoded
    preview = ImageFolderDataset(path=str(root)).preview(nrows=10)
    assert preview["columns"] == SOURCE_COLUMNS
    assert len(preview["data"]) == 7
    assert "cat/broken.jpg" in [row[0] for row in preview["data"]]
    assert {row[2] for row in preview["data"]} == {"cat", "dog"}


def test_tfds_preview_reads_a_prepared_dataset(tmp_path: Path):
    TinyShapes(data_dir=str(tmp_path)).download_and_prepare()
    preview = TFDSDataset(name="tiny_shapes", data_dir=str(tmp_path)).preview(nrows=2)
    assert preview["columns"] == SOURCE_COLUMNS
    assert [row[:2] + row[3:] for row in preview["data"]] == [
        ["tiny_shapes/train/0", "tfds:tiny_shapes/train/0", "train"],
        ["tiny_shapes/train/1", "tfds:tiny_shapes/train/1", "train"],
    ]
    assert {row[2] for row in preview["data"]} <= {"square", "circle"}


def test_tfds_preview_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a preview must not download")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    dataset = TFDSDataset(name="tiny_shapes", data_dir=str(tmp_path), download=True)
    with pytest.raises(DatasetError, match="not prepared yet; nothing to preview"):
        dataset.preview()


def test_parquet_table_preview_survives_lists_and_missing_values(tmp_path: Path):
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "channels": pd.array([3, None, 1], dtype="Int64"),
            "confidence": [0.5, np.nan, 1.0],
            "top_labels": [np.array([2, 0]), np.array([1, 2]), np.array([0, 1])],
        }
    )
    dataset = ParquetTableDataset(filepath=str(tmp_path / "table.parquet"))
    dataset.save(table)
    assert dataset.load()["top_labels"].map(list).tolist() == [[2, 0], [1, 2], [0, 1]]
    preview = dataset.preview(nrows=2)
    assert strict_json(preview) == {
        "index": [0, 1],
        "columns": ["id", "channels", "confidence", "top_labels"],
        "data": [["a", 3, 0.5, [2, 0]], ["b", None, None, [1, 2]]],
    }


class Serving(tf.Module):
    """A SavedModel with the serving model's signature shape: images in, labels out."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def serve(self, images):
        batch = tf.shape(images)[0]
        return {"label": tf.zeros([batch], tf.int64), "probabilities": tf.ones([batch, 2])}

    def serving_signatures(self):
        return {"serve": self.serve.get_concrete_function()}


def test_saved_model_preview_reads_the_signatures(tmp_path: Path):
    dataset = SavedModelDataset(path=str(tmp_path / "serving"))
    dataset.save(Serving())
    preview = json.loads(dataset.preview())
    assert preview["signatures"] == {
        "serve": {
            "inputs": {"images": "uint8 [?, ?, ?, 3]"},
            "outputs": {"label": "int64 [?]", "probabilities": "float32 [?, 2]"},
        }
    }
    assert preview["bytes"] > 0


def test_keras_model_preview_lists_layers_and_parameters(tmp_path: Path):
    model = build_classifier("R14x0.25", 3)
    dataset = KerasModelDataset(filepath=str(tmp_path / "classifier.keras"))
    dataset.save(model)
    preview = dataset.preview()
    assert preview["columns"] == ["layer", "type", "output", "parameters", "trainable"]
    rows = {row[0]: row for row in preview["data"]}
    assert list(rows) == [layer.name for layer in model.layers] + ["total"]
    assert rows["head"][1:] == ["Dense", "[?, 3]", model.get_layer("head").count_params(),
                                model.get_layer("head").count_params()]
    assert rows["total"][2:4] == ["[?, 3]", model.count_params()]
    assert sum(row[3] for row in preview["data"][:-1]) == model.count_params()
    assert strict_json(preview) == preview


def test_markdown_preview_is_the_page_as_written(tmp_path: Path):
    page = "# Run report\n\n| split | top-1 |\n| --- | ---: |\n| test | 99.44% |\n"
    dataset = MarkdownDataset(filepath=str(tmp_path / "report.md"))
    dataset.save(page)
    assert dataset.preview() == page


@pytest.mark.parametrize(
    ("dataset_type", "kind"),
    [
        (BiTWeightsDataset, "TablePreview"),
        (DigitsDataset, "TablePreview"),
        (ImageFolderDataset, "TablePreview"),
        (KerasModelDataset, "TablePreview"),
        (MarkdownDataset, "TextPreview"),
        (ParquetTableDataset, "TablePreview"),
        (SavedModelDataset, "JSONPreview"),
        (TFDSDataset, "TablePreview"),
        (TFRecordShardsDataset, "TablePreview"),
        (TrackedRunsDataset, "TablePreview"),
        (WorkspaceDataset, "TablePreview"),
    ],
)
def test_kedro_viz_reads_the_preview_kind_from_the_return_annotation(dataset_type, kind):
    # As kedro-viz does (DataNodeMetadata.set_preview_type): the annotation's name is the kind.
    annotation = inspect.signature(dataset_type.preview).return_annotation
    assert getattr(annotation, "__name__", str(annotation)) == kind
    assert typing.get_type_hints(dataset_type.preview)["return"].__name__ == kind
