"""The splits of an image index: their names and order, carving the missing ones from
train, and few-shot sampling of the train split.

Carving and sampling are seeded: each class draws from its own random stream, keyed by
the seed, the purpose (carving or sampling) and the label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from bit_finetune.config import SplitFractions
from bit_finetune.errors import ConfigError

SPLITS = ("train", "validation", "test")
"""The split names, in their order."""
SPLIT_NAMES = {**{split: split for split in SPLITS}, "val": "validation", "valid": "validation"}
"""Our split for each name a split folder or a TFDS split may have (lower-cased)."""
CARVED = ("validation", "test")
"""The splits made from train when a source lacks them."""
SPLIT_STREAM, FEW_SHOT_STREAM = 0, 1


def split_order(splits: Iterable[str]) -> list[str]:
    """The distinct ``splits``: those of :data:`SPLITS` in its order, then others sorted."""
    present = set(splits)
    return [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))


def make_splits(
    labels: np.ndarray, given: Sequence[str | None], fractions: SplitFractions, seed: int
) -> np.ndarray:
    """Each example's split: the source's own, with the missing splits carved from train."""
    present = {s for s in given if s is not None}
    if present and None in given:
        raise ValueError("raw_images: some examples have a split and others none")
    if present - set(SPLITS):
        raise ValueError(f"raw_images: unknown split(s) {sorted(present - set(SPLITS))}")
    if present and "train" not in present:
        raise ConfigError(
            f"raw_images: the source has split(s) {sorted(present)} but no train split; add "
            f"one (e.g. a train/ folder, or raw_images.splits.train for TFDS)"
        )
    splits = np.array(["train" if s is None else s for s in given], dtype=object)
    missing = [s for s in CARVED if s not in present]
    if missing:
        pool = np.flatnonzero(splits == "train")
        splits[pool] = stratified_carve(labels[pool], carve_shares(fractions, missing), seed)
    return splits


def carve_shares(fractions: SplitFractions, missing: Sequence[str]) -> dict[str, float]:
    """The share of the train pool each missing split takes."""
    wanted = {split: getattr(fractions, split) for split in missing}
    pool = fractions.train + sum(wanted.values())
    return {split: share / pool for split, share in wanted.items()}


def stratified_carve(labels: np.ndarray, shares: Mapping[str, float], seed: int) -> np.ndarray:
    """Assign each example to a carved split or ``train``, class by class.

    Each split's count is kept on target cumulatively over the classes (in label order),
    so the totals match ``shares`` to within one example and each class gets the floor or
    ceiling of its share; every class keeps at least one example in train.
    """
    out = np.full(len(labels), "train", dtype=object)
    taken = dict.fromkeys(shares, 0)
    seen = 0
    for label in np.unique(labels):
        members = _rng(seed, SPLIT_STREAM, label).permutation(np.flatnonzero(labels == label))
        seen += len(members)
        start = 0
        for split, share in shares.items():
            target = int(np.floor(share * seen + 0.5)) - taken[split]
            count = max(0, min(target, len(members) - 1 - start))
            out[members[start : start + count]] = split
            taken[split] += count
            start += count
    return out


def few_shot(index: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """Keep a seeded sample of ``k`` training examples per class; other splits untouched."""
    train = index["split"] == "train"
    counts = index.loc[train, "label_name"].value_counts()
    short = {
        name: int(counts.get(name, 0))
        for name in sorted(set(index["label_name"]))
        if counts.get(name, 0) < k
    }
    if short:
        name, have = next(iter(short.items()))
        raise ConfigError(
            f"ingestion.examples_per_class: {k}, but class '{name}' has only {have} training "
            f"example(s) ({len(short)} class(es) short); lower examples_per_class or add images"
        )
    labels, train = index["label"].to_numpy(), train.to_numpy()
    keep = ~train
    for label in np.unique(labels[train]):
        members = np.flatnonzero(train & (labels == label))
        keep[_rng(seed, FEW_SHOT_STREAM, label).permutation(members)[:k]] = True
    return index[keep]


def sort_index(index: pd.DataFrame) -> pd.DataFrame:
    """Rows by split (train, validation, test), then id."""
    order = index["split"].map({s: i for i, s in enumerate(SPLITS)})
    index = index.assign(_order=order).sort_values(["_order", "id"]).drop(columns="_order")
    index = index.reset_index(drop=True)
    return index.astype({"id": str, "uri": str, "label_name": str, "split": str})


def _rng(seed: int, stream: int, label: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**64, stream, int(label)])
