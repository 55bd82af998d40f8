"""Profiling nodes: probe every indexed image, summarise the sizes, plot them
(:mod:`bit_finetune.imaging.plots`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from bit_finetune.config import stage_params
from bit_finetune.datasets.source import ImageSource
from bit_finetune.datasets.splits import split_order
from bit_finetune.hyperrule import SMALL_IMAGE_AREA
from bit_finetune.imaging import ImageProbe, probe_reads
from bit_finetune.imaging.plots import class_balance_figure, resolution_figure

logger = logging.getLogger(__name__)

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
PARALLEL_FROM = 512
"""Fewer images than this are decoded in-process: a pool costs more than it saves."""
PERCENTILES = (0, 5, 25, 50, 75, 95, 100)
ERROR_EXAMPLES = 5


def profile_images(
    raw_images: ImageSource, image_index: pd.DataFrame, params: Mapping[str, Any]
) -> pd.DataFrame:
    """Probe every indexed image; one ``image_profile`` row per index row, in index order.

    Sizes come from the image headers; ``verify_decode`` also decodes the pixels, which
    is the only way to catch files truncated after an intact header. Full decodes of
    ``PARALLEL_FROM`` or more images run in ``workers`` processes; header reads stay
    in-process, since reading a header costs less than sending the bytes to a worker.
    """
    p = stage_params("profiling", params)
    uris = list(dict.fromkeys(image_index["uri"]))
    workers = p.workers if p.verify_decode and len(uris) >= PARALLEL_FROM else 1
    logger.info(
        "Profiling %d images (%s, %d worker%s)",
        len(uris),
        "full decode" if p.verify_decode else "headers only",
        workers,
        "s" if workers > 1 else "",
    )
    stream = probe_reads(raw_images.read(uris), verify=p.verify_decode, workers=workers)
    probes: dict[str, ImageProbe] = dict(
        tqdm(stream, total=len(uris), disable=not p.progress, desc="profiling", unit="img")
    )
    missing = [uri for uri in uris if uri not in probes]
    if missing:
        raise RuntimeError(
            f"raw_images returned no result for {len(missing)} of {len(uris)} uris "
            f"(e.g. {missing[0]!r}); its read() must yield one result per uri"
        )
    pairs = zip(image_index["id"], image_index["uri"])
    # vars(): the probe's flat fields; dataclasses.asdict deep-copies and is ~20x slower.
    rows = [{"id": id_, **vars(probes[uri])} for id_, uri in pairs]
    profile = pd.DataFrame(rows, columns=list(PROFILE_COLUMNS)).astype(PROFILE_DTYPES)
    bad = int((~profile["decodable"]).sum())
    logger.info("Profiled %d images: %d undecodable", len(profile), bad)
    return profile


def summarise_profile(image_index: pd.DataFrame, image_profile: pd.DataFrame) -> dict[str, Any]:
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


def plot_resolution(image_profile: pd.DataFrame) -> Figure:
    """Width against height of the decodable images, with the HyperRule's threshold
    (:func:`~bit_finetune.imaging.plots.resolution_figure`)."""
    return resolution_figure(image_profile)


def plot_class_balance(image_index: pd.DataFrame) -> Figure:
    """Examples per class, stacked by split
    (:func:`~bit_finetune.imaging.plots.class_balance_figure`)."""
    return class_balance_figure(image_index)


def _percentiles(values: pd.Series) -> dict[str, float] | None:
    if values.empty:
        return None
    points = np.percentile(values.to_numpy("float64"), PERCENTILES)
    return {f"p{q}": round(float(v), 2) for q, v in zip(PERCENTILES, points)}


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.fillna("unknown").value_counts().items()}
