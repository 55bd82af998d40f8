"""What a shard plan is made from, in memory (images, their source and their index), and
the shard set it gives once saved."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from bit_finetune.catalog import TFRecordShardsDataset
from bit_finetune.data.source import ImageSource, ReadResult, SourceItem
from bit_finetune.shards.records import ShardPayload
from bit_finetune.shards.shard_set import ShardSet

LABELS = ["cat", "dog"]


class BytesSource(ImageSource):
    """Images held in memory as ``{uri: bytes}``; a None value fails to read."""

    def __init__(self, images: dict[str, bytes | None]):
        self.images = images

    def scan(self) -> Iterator[SourceItem]:
        raise NotImplementedError("a shard plan only reads")

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        for uri in uris:
            data = self.images[uri]
            yield ReadResult(uri, data, None if data is not None else "gone")

    def describe(self) -> dict:
        return {"images": len(self.images)}


def image(seed: int, size: tuple[int, int], fmt: str = "PNG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def index(uris: list[str], splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"id-{u}" for u in uris],
            "uri": uris,
            "label": [i % 2 for i in range(len(uris))],
            "label_name": [LABELS[i % 2] for i in range(len(uris))],
            "split": splits,
        }
    )


def saved(payload: ShardPayload, path: Path) -> ShardSet:
    """The shard set of ``payload`` once ``TFRecordShardsDataset`` has saved it at ``path``."""
    dataset = TFRecordShardsDataset(str(path))
    dataset.save(payload)
    return dataset.load()
