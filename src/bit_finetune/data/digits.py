"""The scikit-learn 8x8 digits as an image source: a small labelled set that needs no files."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from bit_finetune.data.source import ImageSource, ReadResult, SourceItem
from bit_finetune.errors import ConfigError

URI_PREFIX = "digits:"
ID_PREFIX = "digits/"
MAX_INTENSITY = 16  # the digits' pixel values run from 0 to 16
DIGITS = tuple(range(10))


class DigitsSource(ImageSource):
    """1,797 handwritten digits (classes "0".."9"), read as 8-bit grayscale PNGs; with
    ``labels``, only the digits of those classes (label names in the given order)."""

    def __init__(self, labels: Sequence[int] = DIGITS) -> None:
        self.labels = tuple(labels)

    @cached_property
    def _digits(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels = np.rint(bunch.images * (255 / MAX_INTENSITY)).astype(np.uint8)
        return pixels, bunch.target.astype(np.int64)

    @property
    def label_names(self) -> list[str]:
        return [str(d) for d in self.labels]

    def scan(self) -> Iterator[SourceItem]:
        _, targets = self._digits
        kept = set(self.labels)
        for index, target in enumerate(targets):
            if target not in kept:
                continue
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
        images = int(np.isin(self._digits[1], self.labels).sum())
        return {"type": "digits", "images": images, "classes": len(self.labels), "size": "8x8"}


def _index(uri: str, count: int) -> int | None:
    key = uri.removeprefix(URI_PREFIX)
    if key == uri or not key.isdigit() or int(key) >= count:
        return None
    return int(key)


def checked_labels(labels: Sequence[int]) -> tuple[int, ...]:
    """``labels`` as a tuple, or a :class:`ConfigError` saying what a valid list is."""
    listed = list(labels) if isinstance(labels, (list, tuple)) else None
    valid = (
        listed is not None
        and all(type(d) is int and d in DIGITS for d in listed)
        and len(set(listed)) == len(listed) >= 2
    )
    if not valid:
        raise ConfigError(
            f"labels: {labels!r} is not a list of digit classes; give at least two "
            "different digits from 0 to 9, e.g. labels: [0, 1, 2, 3, 4]"
        )
    return tuple(listed)
