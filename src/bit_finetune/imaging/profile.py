"""The image profile: one row per indexed image with what its probe found
(:mod:`.probe`), and its summary: counts per split and class, size percentiles, formats,
modes and failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bit_finetune.data.splits import split_order
from bit_finetune.hyperrule import SMALL_IMAGE_AREA
from bit_finetune.imaging.probe import ImageProbe

PROFILE_COLUMNS = (
    "id", "width", "height", "channels", "mode", "format",
    "bytes", "decodable", "error", "sha1", "orientation",
)  # fmt: skip
PROFILE_DTYPES = {
    "width": "Int64",
    "height": "Int64",
    "channels": "Int64",
    "bytes": "int64",
    "decodable": "bool",
    "orientation": "Int64",
}
PERCENTILES = (0, 5, 25, 50, 75, 95, 100)
ERROR_EXAMPLES = 5


def profile_table(image_index: pd.DataFrame, probes: Mapping[str, ImageProbe]) -> pd.DataFrame:
    """One profile row per index row, in index order, from the probes of its uris."""
    pairs = zip(image_index["id"], image_index["uri"])
    # vars(): the probe's flat fields; dataclasses.asdict deep-copies and is ~20x slower.
    rows = [{"id": id_, **vars(probes[uri])} for id_, uri in pairs]
    return pd.DataFrame(rows, columns=list(PROFILE_COLUMNS)).astype(PROFILE_DTYPES)


def summarise(image_index: pd.DataFrame, image_profile: pd.DataFrame) -> dict[str, Any]:
    """Counts per split and class, size percentiles, formats, modes and failures."""
    table = image_index.merge(image_profile, on="id", how="left", validate="one_to_one")
    good = table[table["decodable"].fillna(False).astype(bool)]
    area = good["width"].astype("float64") * good["height"].astype("float64")
    bad = table[~table["decodable"].fillna(False).astype(bool)]
    splits = split_order(table["split"])
    classes = table.sort_values("label", kind="stable")["label_name"].unique()
    per_class = table.groupby(["label_name", "split"]).size()
    return {
        "examples": len(table),
        "decodable": len(good),
        "per_split": {s: int((table["split"] == s).sum()) for s in splits},
        "per_class": {
            c: {"total": int(per_class[c].sum())} | {s: int(per_class[c].get(s, 0)) for s in splits}
            for c in classes
        },
        "width": _percentiles(good["width"]),
        "height": _percentiles(good["height"]),
        "area": _percentiles(area),
        "small_image_area": SMALL_IMAGE_AREA,
        "small_image_share": float((area < SMALL_IMAGE_AREA).mean()) if len(good) else None,
        "exif_rotated": int((good["orientation"] != 1).sum()),
        "formats": _counts(table["format"]),
        "modes": _counts(table["mode"]),
        "undecodable": {
            "count": len(bad),
            "examples": [
                {"id": str(row.id), "error": str(row.error)}
                for row in bad.head(ERROR_EXAMPLES).itertuples()
            ],
        },
    }


def _percentiles(values: pd.Series) -> dict[str, float] | None:
    if values.empty:
        return None
    points = np.percentile(values.to_numpy("float64"), PERCENTILES)
    return {f"p{q}": round(float(v), 2) for q, v in zip(PERCENTILES, points)}


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.fillna("unknown").value_counts().items()}
