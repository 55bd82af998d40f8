"""Profiling nodes: probe every indexed image, summarise the sizes, plot them
(:mod:`bit_finetune.imaging.profile`, :mod:`bit_finetune.imaging.plots`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from bit_finetune.config import stage_params
from bit_finetune.core.progress import progress_bar
from bit_finetune.data.source import ImageSource
from bit_finetune.imaging import ImageProbe, probe_reads
from bit_finetune.imaging.plots import class_balance_figure, resolution_figure
from bit_finetune.imaging.profile import profile_table, summarise

logger = logging.getLogger(__name__)

PARALLEL_FROM = 512
"""Fewer images than this are decoded in-process: a pool costs more than it saves."""


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
        progress_bar(stream, total=len(uris), disable=not p.progress, desc="profiling", unit="img")
    )
    missing = [uri for uri in uris if uri not in probes]
    if missing:
        raise RuntimeError(
            f"raw_images returned no result for {len(missing)} of {len(uris)} uris "
            f"(e.g. {missing[0]!r}); its read() must yield one result per uri"
        )
    profile = profile_table(image_index, probes)
    bad = int((~profile["decodable"]).sum())
    logger.info("Profiled %d images: %d undecodable", len(profile), bad)
    return profile


def summarise_profile(image_index: pd.DataFrame, image_profile: pd.DataFrame) -> dict[str, Any]:
    """Counts per split and class, size percentiles, formats, modes and failures
    (:func:`~bit_finetune.imaging.profile.summarise`)."""
    return summarise(image_index, image_profile)


def plot_resolution(image_profile: pd.DataFrame) -> Figure:
    """Width against height of the decodable images, with the HyperRule's threshold
    (:func:`~bit_finetune.imaging.plots.resolution_figure`)."""
    return resolution_figure(image_profile)


def plot_class_balance(image_index: pd.DataFrame) -> Figure:
    """Examples per class, stacked by split
    (:func:`~bit_finetune.imaging.plots.class_balance_figure`)."""
    return class_balance_figure(image_index)
