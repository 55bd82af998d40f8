"""Index the raw images: one row per example, with its label id and its split."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bit_finetune.config import stage_params
from bit_finetune.datasets.source import ImageSource
from bit_finetune.datasets.splits import CARVED, SPLITS, few_shot, make_splits, sort_index
from bit_finetune.errors import ConfigError

logger = logging.getLogger(__name__)


def index_images(
    raw_images: ImageSource, params: Mapping[str, Any] | None
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """List every example of ``raw_images`` with its label id and split.

    Label ids follow the source's own label order when it has one, else the sorted label
    names. Splits the source defines are kept. Missing splits are made from the source's
    train split (the whole source when it defines none), stratified by label and seeded
    by ``ingestion.seed``: the train split stands for train plus the missing splits, so
    each missing split takes ``fraction / (train + missing fractions)`` of it. With
    fractions 0.8/0.1/0.1 an unsplit source becomes 80/10/10, and a source with train and
    test but no validation gives 0.1 / 0.9 = 1/9 of its train split to validation. A class
    always keeps at least one training example. With ``examples_per_class: k`` only a
    seeded sample of k training examples per class is kept (validation and test are
    untouched); the sample for a smaller k is part of the one for a larger k.

    Returns:
        ``image_index`` (id, uri, label, label_name, split) and ``label_map``
        (``{"names": [...]}``).
    """
    p = stage_params("ingestion", params)
    items = sorted(raw_images.scan(), key=lambda item: item.id)
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
    check_min_classes(index["label_name"], p.min_classes)
    names = label_names(index["label_name"], raw_images.label_names)
    index.insert(2, "label", index["label_name"].map({n: i for i, n in enumerate(names)}))
    index["label"] = index["label"].astype("int64")
    given = [item.split for item in items]
    index["split"] = make_splits(index["label"].to_numpy(), given, p.split_fractions, p.seed)
    if p.examples_per_class is not None:
        index = few_shot(index, p.examples_per_class, p.seed)
    index = sort_index(index)
    _log_summary(index, names, given, p.examples_per_class, p.seed)
    return index, {"names": names}


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
        "Indexed %s images in %d classes: %s", f"{len(index):,}", index["label"].nunique(),
        per_split,
    )
    made = [s for s in CARVED if s not in set(given)]
    if made:
        logger.info("Made %s from train (stratified by label, seed %d)", " and ".join(made), seed)
    if k is not None:
        logger.info("Few-shot: kept %d training images per class of %d", k, len(names))
