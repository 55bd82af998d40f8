"""The scikit-learn 8x8 digits as an image source: a small labelled set that needs no files."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview
from PIL import Image

from bit_finetune.datasets.previews import source_table
from bit_finetune.datasets.source import ImageSource, ReadResult, SourceItem

URI_PREFIX = "digits:"
ID_PREFIX = "digits/"
MAX_INTENSITY = 16  # the digits' pixel values run from 0 to 16


class DigitsSource(ImageSource):
    """1,797 handwritten digits (classes "0".."9"), read as 8-bit grayscale PNGs."""

    @cached_property
    def _digits(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels = np.rint(bunch.images * (255 / MAX_INTENSITY)).astype(np.uint8)
        return pixels, bunch.target.astype(np.int64)

    @property
    def label_names(self) -> list[str]:
        return [str(d) for d in range(10)]

    def scan(self) -> Iterator[SourceItem]:
        _, targets = self._digits
        for index, target in enumerate(targets):
            key = f"{index:04d}"
            yield SourceItem(f"{ID_PREFIX}{key}", f"{URI_PREFIX}{key}", str(target), None)

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        pixels, _ = self._digits
        for uri in uris:
            index = _index(uri, len(pixels))
            if index is None:
                last = f"{URI_PREFIX}{len(pixels) - 1:04d}"
                yield ReadResult(uri, None, f"not a digits uri ({URI_PREFIX}0000 .. {last})")
                continue
            buffer = io.BytesIO()
            Image.fromarray(pixels[index]).save(buffer, format="PNG")
            yield ReadResult(uri, buffer.getvalue())

    def describe(self) -> dict[str, Any]:
        return {"type": "digits", "images": len(self._digits[1]), "classes": 10, "size": "8x8"}


def _index(uri: str, count: int) -> int | None:
    key = uri.removeprefix(URI_PREFIX)
    if key == uri or not key.isdigit() or int(key) >= count:
        return None
    return int(key)


class DigitsDataset(AbstractDataset[None, ImageSource]):
    """Read-only catalog entry for the embedded digits (scikit-learn, offline).

    Example catalog entry::

        raw_images:
          type: bit_finetune.datasets.DigitsDataset
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> ImageSource:
        return DigitsSource()

    def save(self, data: None) -> None:
        raise DatasetError("raw_images: the digits are built in and read-only; nothing is saved")

    def _describe(self) -> dict[str, Any]:
        return {"source": "sklearn.datasets.load_digits"}

    def preview(self, nrows: int = 10) -> TablePreview:
        """The first ``nrows`` digits listed (id, uri, label_name, split)."""
        return source_table(self.load(), nrows)
