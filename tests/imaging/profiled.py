"""An index and its profile, built from (id, size, sha1) rows, for the screening tests."""

from __future__ import annotations

import pandas as pd

from bit_finetune.imaging.profile import PROFILE_DTYPES

ALL_CHECKS = {
    "enabled": True,
    "min_side": 32,
    "max_side": 1000,
    "max_aspect_ratio": 3.0,
    "deduplicate": True,
}

CASES = [
    ("ok", (200, 150), "s1"),
    ("broken", None, "s2"),
    ("tiny", (20, 200), "s3"),  # too small and too elongated: too_small comes first
    ("huge", (1200, 900), "s4"),
    ("wide", (400, 100), "s5"),
    ("copy", (200, 150), "s1"),
    ("tiny_copy", (20, 200), "s3"),  # fails the size check first, like its original
    ("ok2", (64, 64), "s6"),
]


def tables(
    rows: list[tuple[str, tuple[int, int] | None, str]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index and profile for rows of (id, (width, height) or None if undecodable, sha1)."""
    index = pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "uri": [f"mem:{r[0]}" for r in rows],
            "label": pd.array([i % 2 for i in range(len(rows))], dtype="int64"),
            "label_name": [("cat", "dog")[i % 2] for i in range(len(rows))],
            "split": ["train"] * len(rows),
        }
    )
    profile = pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "width": [r[1][0] if r[1] else None for r in rows],
            "height": [r[1][1] if r[1] else None for r in rows],
            "channels": [3 if r[1] else None for r in rows],
            "mode": ["RGB" if r[1] else None for r in rows],
            "format": ["JPEG" if r[1] else None for r in rows],
            "bytes": [100] * len(rows),
            "decodable": [r[1] is not None for r in rows],
            "error": [None if r[1] else "empty file" for r in rows],
            "sha1": [r[2] for r in rows],
            "orientation": [1] * len(rows),
        }
    ).astype(PROFILE_DTYPES)
    return index, profile
