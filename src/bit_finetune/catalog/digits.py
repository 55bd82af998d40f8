"""Kedro dataset for the embedded digits (:mod:`bit_finetune.data.digits`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from bit_finetune.catalog.previews import TablePreview, source_table
from bit_finetune.data.digits import DIGITS, DigitsSource, checked_labels
from bit_finetune.data.source import ImageSource


class DigitsDataset(AbstractDataset[None, ImageSource]):
    """Read-only catalog entry for the embedded digits (scikit-learn, offline).

    Example catalog entries (all ten classes; digits 0 to 4 only)::

        raw_images:
          type: bit_finetune.catalog.DigitsDataset

        upstream.raw_images:
          type: bit_finetune.catalog.DigitsDataset
          labels: [0, 1, 2, 3, 4]

    Args:
        labels: the digit classes to list (at least two of 0..9, no repeats); their
            order is the label map's. Default: all ten.
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    def __init__(
        self, labels: Sequence[int] = DIGITS, metadata: dict[str, Any] | None = None
    ) -> None:
        self._labels = checked_labels(labels)
        self.metadata = metadata

    def load(self) -> ImageSource:
        return DigitsSource(self._labels)

    def save(self, data: None) -> None:
        raise DatasetError("raw_images: the digits are built in and read-only; nothing is saved")

    def _describe(self) -> dict[str, Any]:
        return {"source": "sklearn.datasets.load_digits", "labels": list(self._labels)}

    def preview(self, nrows: int = 10) -> TablePreview:
        """The first ``nrows`` digits listed (id, uri, label_name, split)."""
        return source_table(self.load(), nrows)
