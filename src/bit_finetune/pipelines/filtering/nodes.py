"""Filtering node: keep the decodable images that pass the configured checks
(:mod:`bit_finetune.imaging.screening` holds the rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bit_finetune.config import stage_params
from bit_finetune.imaging.screening import screen


def filter_images(
    image_index: pd.DataFrame, image_profile: pd.DataFrame, params: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(filtered_index, rejected_images)``: the images that pass the checks, and
    the others with the first reason that applies
    (:func:`~bit_finetune.imaging.screening.screen`)."""
    return screen(image_index, image_profile, stage_params("filtering", params))
