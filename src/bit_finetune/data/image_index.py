"""The image index: one row per example of an image source, with its label id and split
(:mod:`.splits` makes the splits the source lacks)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import pandas as pd

from bit_finetune.config import IngestionParams
from bit_finetune.data.source import SourceItem
from bit_finetune.data.splits import CARVED, SPLITS, few_shot, make_splits, sort_index
from bit_finetune.errors import ConfigError

logger = logging.getLogger(__name__)


def build_index(
    items: Iterable[SourceItem], source_names: Sequence[str] | None, params: IngestionParams
) -> tuple[pd.DataFrame, list[str]]:
    """The index of ``items`` (id, uri, label, label_name, split) and its label names:
    ``source_names`` when the source has its own order, else the sorted names."""
    items = sorted(items, key=lambda item: item.id)
    if not items:
        raise ConfigError("raw_images: the source lists no images; check its catalog entry")
    index = pd.DataFrame(
        {
            "id": [item.id for item in items],
            "uri": [item.uri for item in items],
            "label_name": [item.label_name for item in items],
        }
    )
    if index["id"].duplicated().any():
        duplicate = index.loc[index["id"].duplicated(), "id"].iloc[0]
        raise ValueError(f"raw_images: the source lists id '{duplicate}' more than once")
    check_min_classes(index["label_name"], params.min_classes)
    names = label_names(index["label_name"], source_names)
    index.insert(2, "label", index["label_name"].map({n: i for i, n in enumerate(names)}))
    index["label"] = index["label"].astype("int64")
    given = [item.split for item in items]
    index["split"] = make_splits(
        index["label"].to_numpy(), given, params.split_fractions, params.seed
    )
    if params.examples_per_class is not None:
        index = few_shot(index, params.examples_per_class, params.seed)
    index = sort_index(index)
    _log_summary(index, names, given, params.examples_per_class, params.seed)
    return index, names


def check_min_classes(label_names_found: pd.Series, min_classes: int) -> None:
    """Raise when the source has fewer classes than ``ingestion.min_classes``."""
    found = sorted(set(label_names_found))
    if len(found) < min_classes:
        raise ConfigError(
            f"ingestion.min_classes: raw_images has {len(found)} class(es) ({', '.join(found)}) "
            f"but at least {min_classes} are needed; add images of more classes (one folder "
            f"per class), point raw_images at the right data, or lower min_classes (2 at least)"
        )


def label_names(found: pd.Series, source_names: Sequence[str] | None) -> list[str]:
    """The label map: the source's own order when it has one, else the sorted names."""
    if source_names is None:
        return sorted(set(found))
    unknown = sorted(set(found) - set(source_names))
    if unknown:
        raise ValueError(
            f"raw_images: examples are labelled {unknown}, which the source's label names "
            f"{list(source_names)} do not include"
        )
    return list(source_names)


def _log_summary(
    index: pd.DataFrame, names: list[str], given: Sequence[str | None], k: int | None, seed: int
) -> None:
    counts = index["split"].value_counts()
    per_split = ", ".join(f"{s} {counts.get(s, 0):,}" for s in SPLITS)
    logger.info(
        "Indexed %s images in %d classes: %s",
        f"{len(index):,}",
        index["label"].nunique(),
        per_split,
    )
    made = [s for s in CARVED if s not in set(given)]
    if made:
        logger.info("Made %s from train (stratified by label, seed %d)", " and ".join(made), seed)
    if k is not None:
        logger.info("Few-shot: kept %d training images per class of %d", k, len(names))
