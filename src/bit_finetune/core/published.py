"""The published BiT weight files by name (``BiT-M-R50x1``), plain Python.

Each name gives the file's path under the release's base URL and the architecture the
weights belong to, so ``training.model.weights: BiT-M-R50x1`` needs no architecture.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

from bit_finetune.errors import WeightsError

BASE_URL = "https://storage.googleapis.com/bit_models"
SIZES = ("R50x1", "R50x3", "R101x1", "R101x3", "R152x2", "R152x4")


@dataclass(frozen=True)
class PublishedWeights:
    """One released ``.npz`` file: its name, its path under the base URL, its architecture."""

    name: str
    file: str
    architecture: str

    def url(self, base_url: str = BASE_URL) -> str:
        return f"{base_url.rstrip('/')}/{self.file}"


def _table() -> dict[str, PublishedWeights]:
    entries = [
        *(PublishedWeights(f"BiT-{s}-{a}", f"BiT-{s}-{a}.npz", a) for s in "SM" for a in SIZES),
        # BiT-M fine-tuned on ILSVRC-2012 (its 1000-way head is ignored like any head)
        *(PublishedWeights(f"BiT-M-{a}-ILSVRC2012", f"BiT-M-{a}-ILSVRC2012.npz", a) for a in SIZES),
        # R50x1 students distilled from BiT-M-R152x2 on ILSVRC-2012, and the teachers
        *(
            PublishedWeights(f"BiT-M-R50x1-distilled-{px}", f"distill/R50x1_{px}.npz", "R50x1")
            for px in (224, 160)
        ),
        *(
            PublishedWeights(f"BiT-M-R152x2-teacher-{px}", f"distill/R152x2_T_{px}.npz", "R152x2")
            for px in (224, 384)
        ),
    ]
    return {entry.name: entry for entry in entries}


PUBLISHED: dict[str, PublishedWeights] = _table()
_BY_LOWER = {name.lower(): entry for name, entry in PUBLISHED.items()}


def published_weights(weights: str) -> PublishedWeights | None:
    """The published file ``weights`` names (any letter case), None for paths and URLs.

    A value that looks like a BiT name (starts with ``BiT-``, no path separator, no file
    extension, no such local path) but is none raises :class:`~bit_finetune.errors.WeightsError` listing the
    closest names.
    """
    key = weights.strip().lower()
    found = _BY_LOWER.get(key)
    if found is not None or not key.startswith("bit-") or "/" in key or "." in key:
        return found
    if os.path.exists(weights):
        return None
    close = difflib.get_close_matches(key, _BY_LOWER, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(_BY_LOWER[c].name for c in close)}? " if close else ""
    raise WeightsError(
        f"{weights!r} is not a published BiT model; {hint}"
        f"published names are {list(PUBLISHED)}"
    )
