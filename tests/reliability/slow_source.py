"""An image folder that reads slowly, so that a run can be killed in the middle of a stage.

Catalog entry (the tests put ``tests/`` on ``PYTHONPATH``)::

    raw_images:
      type: reliability.slow_source.SlowImageFolderDataset
      path: /path/to/images
      delay: 0.05   # seconds per image read
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from bit_finetune.catalog import ImageFolderDataset
from bit_finetune.data.source import ImageSource, ReadResult, SourceItem


class SlowSource(ImageSource):
    def __init__(self, source: ImageSource, delay: float):
        self._source, self._delay = source, delay

    def scan(self) -> Iterator[SourceItem]:
        return self._source.scan()

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        for result in self._source.read(uris):
            time.sleep(self._delay)
            yield result

    def describe(self) -> dict[str, Any]:
        return {**self._source.describe(), "delay": self._delay}


class SlowImageFolderDataset(ImageFolderDataset):
    def __init__(self, path: str, delay: float = 0.05, **kwargs: Any):
        super().__init__(path, **kwargs)
        self._delay = delay

    def load(self) -> ImageSource:
        return SlowSource(super().load(), self._delay)
