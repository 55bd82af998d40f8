"""Index the raw images: one row per example, with its label id and its split."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bit_finetune.config import stage_params
from bit_finetune.data.image_index import build_index
from bit_finetune.data.source import ImageSource


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
    index, names = build_index(
        raw_images.scan(), raw_images.label_names, stage_params("ingestion", params)
    )
    return index, {"names": names}
