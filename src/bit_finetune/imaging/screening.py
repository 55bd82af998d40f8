"""Screening the indexed images against their profile (:mod:`.profile`): which to keep,
which to reject and why.

Checks run in a fixed order and each rejected example is reported once, with the first
reason that applies: ``undecodable`` (always, even when filtering is disabled), then,
when ``enabled``, ``too_small``, ``too_large``, ``aspect_ratio`` and ``duplicate``.

Sizes come from the profile. With ``profiling.verify_decode: false`` the profile only
read headers, so a file truncated after an intact header counts as decodable here and is
caught later, when the shards are written; set ``verify_decode: true`` to reject such
files up front.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bit_finetune.config import FilteringParams

logger = logging.getLogger(__name__)

INDEX_COLUMNS = ["id", "uri", "label", "label_name", "split"]
REJECTED_COLUMNS = ["id", "uri", "label_name", "split", "reason", "detail"]


def screen(
    image_index: pd.DataFrame, image_profile: pd.DataFrame, params: FilteringParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(filtered_index, rejected_images)``; see the module docstring for the rules."""
    table = _join(image_index, image_profile)
    reason = pd.Series(None, index=table.index, dtype="object")
    detail = pd.Series(None, index=table.index, dtype="object")

    def reject(mask: pd.Series, name: str, text: pd.Series) -> None:
        mask = mask & reason.isna()
        reason[mask] = name
        detail[mask] = text[mask]

    decodable = table["decodable"].astype(bool)
    reject(~decodable, "undecodable", table["error"].fillna("not decodable").astype(str))
    width = table["width"].astype("float64")
    height = table["height"].astype("float64")
    short, long = np.minimum(width, height), np.maximum(width, height)
    size = _texts("{:.0f}x{:.0f} px", width, height)
    if params.enabled:
        reject(
            short < params.min_side,
            "too_small",
            size + f": shorter side < min_side {params.min_side}",
        )
        if params.max_side is not None:
            too_large = size + f": longer side > max_side {params.max_side}"
            reject(long > params.max_side, "too_large", too_large)
        if params.max_aspect_ratio is not None:
            ratio = long / short
            reject(
                ratio > params.max_aspect_ratio,
                "aspect_ratio",
                _texts("{:.2f}", ratio) + f" > max_aspect_ratio {params.max_aspect_ratio:g}",
            )
        if params.deduplicate:
            candidates = table[reason.isna()]
            first = candidates.groupby("sha1")["id"].transform("first")
            copies = (candidates["id"] != first).reindex(table.index, fill_value=False)
            text = ("same bytes as " + first.astype(str)).reindex(table.index)
            reject(copies, "duplicate", text)

    kept = reason.isna()
    filtered = table.loc[kept, INDEX_COLUMNS + ["width", "height"]].astype(
        {"width": "int64", "height": "int64"}
    )
    rejected = table.loc[~kept, ["id", "uri", "label_name", "split"]].assign(
        reason=reason[~kept].astype(str), detail=detail[~kept].astype(str)
    )
    _log(len(table), filtered, rejected)
    return filtered.reset_index(drop=True), rejected[REJECTED_COLUMNS].reset_index(drop=True)


def _texts(template: str, *columns: pd.Series) -> pd.Series:
    """``template`` filled row by row from ``columns``, as an object column."""
    texts = [template.format(*values) for values in zip(*columns)]
    return pd.Series(texts, index=columns[0].index, dtype="object")


def _join(image_index: pd.DataFrame, image_profile: pd.DataFrame) -> pd.DataFrame:
    profile = image_profile[["id", "width", "height", "decodable", "error", "sha1"]]
    table = image_index[INDEX_COLUMNS].merge(profile, on="id", how="left", indicator=True)
    unprofiled = table.loc[table["_merge"] == "left_only", "id"]
    if len(unprofiled) or len(table) != len(image_index):
        example = unprofiled.iloc[0] if len(unprofiled) else "a repeated id"
        raise ValueError(
            f"image_profile does not match image_index ({len(unprofiled)} indexed ids without "
            f"a profile row, e.g. {example!r}); re-run the profiling stage "
            "(kedro run --pipeline profiling) after changing the index"
        )
    return table.drop(columns="_merge")


def _log(total: int, filtered: pd.DataFrame, rejected: pd.DataFrame) -> None:
    logger.info("Kept %d of %d images", len(filtered), total)
    for reason, count in rejected["reason"].value_counts().items():
        logger.info("Rejected %d images: %s", count, reason)
