"""Kedro dataset for a folder of images (:mod:`bit_finetune.data.image_folder` lists it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import fsspec
from kedro.io import AbstractDataset, DatasetError

from bit_finetune.catalog.previews import TablePreview, source_table
from bit_finetune.data.image_folder import image_extensions, open_image_folder
from bit_finetune.data.source import ImageSource


class ImageFolderDataset(AbstractDataset[None, ImageSource]):
    """Read-only catalog entry for a folder of images sorted into class folders.

    Example catalog entry::

        raw_images:
          type: bit_finetune.catalog.ImageFolderDataset
          path: data/01_raw/images          # or s3://bucket/images, gs://..., memory://...
          extensions: [jpg, png]            # optional; default jpg jpeg png bmp gif webp
          credentials: my_s3                # optional, from conf/<env>/credentials.yml

        prediction_images:                  # new images to classify, in any sub-folders
          type: bit_finetune.catalog.ImageFolderDataset
          path: data/01_raw/predict
          labelled: false

    Args:
        path: local folder or fsspec URL.
        extensions: file extensions to read (case-insensitive, with or without the dot).
        fs_args: extra arguments for the fsspec filesystem.
        credentials: storage options for the filesystem (keys, tokens).
        labelled: true: images sit in class folders (see
            :mod:`bit_finetune.data.image_folder`); false: every image at any depth, with
            label name ``""`` and no split.
        metadata: free-form metadata (kedro-viz).
    """

    def __init__(
        self,
        path: str,
        extensions: Iterable[str] | None = None,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        labelled: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = str(path)
        self._labelled = labelled
        # The catalog entry each mode serves, named in error messages.
        self._key = "raw_images" if labelled else "prediction_images"
        self._extensions = image_extensions(extensions, self._key)
        options = {**(credentials or {}), **(fs_args or {})}
        self._fs, self._root = fsspec.core.url_to_fs(self._path, **options)
        self.metadata = metadata

    def load(self) -> ImageSource:
        return open_image_folder(
            self._fs, self._root, self._path, self._extensions, self._labelled, self._key
        )

    def save(self, data: None) -> None:
        raise DatasetError(f"{self._key}: an image folder is read-only; nothing is saved")

    def _exists(self) -> bool:
        return self._fs.isdir(self._root)

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "extensions": list(self._extensions),
                "labelled": self._labelled}

    def preview(self, nrows: int = 10) -> TablePreview:
        """The first ``nrows`` images listed (id, uri, label_name, split), none decoded."""
        return source_table(self.load(), nrows)
