"""The plan of a shard set: each split's rows in a fixed shuffled order, and the stream of
serialized records (:mod:`.records`) that reads and encodes them while
:func:`~bit_finetune.shards.shard_set.write_shard_set` writes them."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from bit_finetune.config import PreprocessingParams
from bit_finetune.core.progress import progress_bar
from bit_finetune.data.source import ImageSource
from bit_finetune.data.splits import split_order
from bit_finetune.imaging.encode import encode_reads
from bit_finetune.shards.records import ShardPayload, SkippedExample, make_example

logger = logging.getLogger(__name__)

WRITE_ORDER_SEED = 0
"""Seed of the fixed shuffle that mixes classes across (and within) shard files."""


def plan_shards(
    source: ImageSource,
    index: pd.DataFrame,
    size: int,
    label_names: Sequence[str],
    settings: PreprocessingParams,
) -> ShardPayload:
    """The lazy payload of every ``index`` row of ``source``, as ``size`` squares encoded
    per ``settings``; an image that fails to decode becomes a skip marker."""
    names = list(label_names)
    splits = _split_rows(index, len(names))
    quality = f" (quality {settings.jpeg_quality})" if settings.encoding == "jpeg" else ""
    logger.info(
        "Writing %s images as %dx%d %s%s with %d worker(s)",
        " / ".join(f"{len(rows):,} {split}" for split, rows in splits.items()),
        size, size, settings.encoding.upper(), quality, settings.workers,
    )  # fmt: skip
    return ShardPayload(
        splits={
            split: _records(source, rows, split, size, settings) for split, rows in splits.items()
        },
        expected={split: len(rows) for split, rows in splits.items()},
        metadata={
            "label_names": names,
            "image_size": size,
            "encoding": settings.encoding,
            "jpeg_quality": settings.jpeg_quality if settings.encoding == "jpeg" else None,
            "resize": "bilinear to a square (aspect ratio not kept), after EXIF rotation",
            "order": f"ids shuffled with seed {WRITE_ORDER_SEED}",
        },
        examples_per_shard=settings.examples_per_shard,
    )


def _split_rows(index: pd.DataFrame, num_labels: int) -> dict[str, pd.DataFrame]:
    """Rows per split (train, validation, test first), each in the fixed write order."""
    missing = {"id", "uri", "label", "split"} - set(index.columns)
    if missing:
        raise ValueError(f"filtered_index: missing columns {sorted(missing)}")
    if index.empty:
        raise ValueError(
            "filtered_index: no images to write; check the filtering parameters and the "
            "rejected_images report"
        )
    bad = index[(index["label"] < 0) | (index["label"] >= num_labels)]
    if not bad.empty:
        raise ValueError(
            f"filtered_index: label {bad['label'].iloc[0]} of {bad['id'].iloc[0]!r} is "
            f"outside label_map.names ({num_labels} names); rerun ingestion"
        )
    if index["uri"].duplicated().any():
        uri = index.loc[index["uri"].duplicated(), "uri"].iloc[0]
        raise ValueError(f"filtered_index: uri {uri!r} appears more than once")
    rows = {}
    for split in split_order(index["split"]):
        part = index[index["split"] == split].sort_values("id", kind="stable")
        shuffle = np.random.default_rng(WRITE_ORDER_SEED).permutation(len(part))
        rows[split] = part.iloc[shuffle].reset_index(drop=True)
    return rows


def _records(
    source: ImageSource,
    rows: pd.DataFrame,
    split: str,
    size: int,
    settings: PreprocessingParams,
) -> Iterator[bytes | SkippedExample]:
    """Serialized examples of one split, in ``rows`` order, with skip markers."""
    by_uri = {row.uri: row for row in rows.itertuples(index=False)}
    encoded = encode_reads(
        source.read(list(by_uri)),
        size=size,
        encoding=settings.encoding,
        quality=settings.jpeg_quality,
        workers=settings.workers,
    )
    progress = progress_bar(
        encoded, total=len(by_uri), desc=f"write_shards {split}", unit="img",
        disable=not settings.progress,
    )  # fmt: skip
    seen = set()
    for uri, image in progress:
        row = by_uri[uri]
        seen.add(uri)
        if isinstance(image, str):
            yield _skip(row.id, split, image)
        else:
            yield make_example(
                image.data, image.format, int(row.label), str(row.id), image.width, image.height
            )
    for uri, row in by_uri.items():
        if uri not in seen:
            yield _skip(row.id, split, "the image source returned nothing for this uri")


def _skip(example_id: str, split: str, reason: str) -> SkippedExample:
    logger.warning("Skipping %s (%s split): %s", example_id, split, reason)
    return SkippedExample(str(example_id), reason)
