"""Kedro dataset for a TensorFlow Datasets dataset (:mod:`bit_finetune.data.tfds`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from bit_finetune.catalog.previews import TablePreview, source_table
from bit_finetune.data.source import ImageSource
from bit_finetune.data.tfds import open_tfds, tfds_builder


class TFDSDataset(AbstractDataset[None, ImageSource]):
    """Read-only catalog entry for an image classification dataset from TFDS.

    Example catalog entries::

        raw_images:                         # by name, prepared under data_dir
          type: bit_finetune.catalog.TFDSDataset
          name: cats_vs_dogs
          data_dir: data/01_raw/tfds
          download: true                    # needs internet the first time

        raw_images:                         # a prepared dataset folder (has dataset_info.json)
          type: bit_finetune.catalog.TFDSDataset
          data_dir: data/01_raw/tfds/cats_vs_dogs/4.0.1

    Args:
        name: TFDS name, optionally with config and version (``name/config:1.2.3``).
        data_dir: where TFDS keeps prepared datasets (default ``~/tensorflow_datasets``),
            or one prepared dataset folder.
        image_key: the image feature.
        label_key: the ``ClassLabel`` feature.
        splits: our split (train/validation/test) -> TFDS split string (e.g.
            ``{train: "train[:90%]", test: "train[90%:]"}``); by default the dataset's
            own ``train``, ``validation`` (or ``val``/``valid``) and ``test`` splits.
        download: download and prepare the dataset when it is not prepared yet; when
            false a missing dataset is an immediate error.
        metadata: free-form metadata (kedro-viz).
    """

    def __init__(
        self,
        name: str | None = None,
        data_dir: str | None = None,
        image_key: str = "image",
        label_key: str = "label",
        splits: Mapping[str, str] | None = None,
        download: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._args: dict[str, Any] = {
            "name": name, "data_dir": None if data_dir is None else str(data_dir),
            "image_key": image_key, "label_key": label_key,
            "splits": None if splits is None else dict(splits), "download": download,
        }  # fmt: skip
        self.metadata = metadata

    def load(self) -> ImageSource:
        return open_tfds(**self._args)

    def save(self, data: None) -> None:
        raise DatasetError("raw_images: a TFDS dataset is read-only; nothing is saved")

    def _describe(self) -> dict[str, Any]:
        return dict(self._args)

    def preview(self, nrows: int = 10) -> TablePreview:
        """The first ``nrows`` examples listed (id, uri, label_name, split); never downloads."""
        name = self._args["name"]
        if not tfds_builder(name, self._args["data_dir"]).is_prepared():
            raise DatasetError(
                f"raw_images: TFDS dataset '{name}' is not prepared yet; nothing to preview"
            )
        return source_table(self.load(), nrows)
