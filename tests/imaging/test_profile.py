"""The image profile's summary: counts per split and class, size percentiles, formats,
modes and failures."""

from __future__ import annotations

import pandas as pd
import pytest

from bit_finetune.imaging.profile import PROFILE_DTYPES, summarise


def _index(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    names = sorted({label for _, label, _ in rows})
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "uri": [f"mem:{r[0]}" for r in rows],
            "label": pd.array([names.index(r[1]) for r in rows], dtype="int64"),
            "label_name": [r[1] for r in rows],
            "split": [r[2] for r in rows],
        }
    )


def _profile(sizes: dict[str, tuple[int, int] | None]) -> pd.DataFrame:
    rows = [
        {
            "id": id_,
            "width": size[0] if size else None,
            "height": size[1] if size else None,
            "channels": 3 if size else None,
            "mode": "RGB" if size else None,
            "format": ("PNG" if id_ == "e" else "JPEG") if size else None,
            "bytes": 1000,
            "decodable": size is not None,
            "error": None if size else "not an image (unrecognised format)",
            "sha1": id_ * 40,
            "orientation": 6 if id_ == "a" else 1,
        }
        for id_, size in sizes.items()
    ]
    return pd.DataFrame(rows).astype(PROFILE_DTYPES)


KNOWN_INDEX = _index(
    [
        ("a", "dog", "train"),
        ("b", "dog", "train"),
        ("c", "cat", "train"),
        ("d", "cat", "validation"),
        ("e", "cat", "test"),
        ("f", "dog", "test"),
    ]
)
KNOWN_PROFILE = _profile(
    {"a": (100, 50), "b": (200, 100), "c": (50, 50), "d": (400, 300), "e": (80, 80), "f": None}
)


def test_summary_of_a_known_set():
    summary = summarise(KNOWN_INDEX, KNOWN_PROFILE)
    assert summary["examples"] == 6 and summary["decodable"] == 5
    assert summary["per_split"] == {"train": 3, "validation": 1, "test": 2}
    assert summary["per_class"] == {
        "cat": {"total": 3, "train": 1, "validation": 1, "test": 1},
        "dog": {"total": 3, "train": 2, "validation": 0, "test": 1},
    }
    assert summary["width"] == {
        "p0": 50.0, "p5": 56.0, "p25": 80.0, "p50": 100.0, "p75": 200.0, "p95": 360.0,
        "p100": 400.0,
    }  # fmt: skip
    assert summary["area"]["p50"] == 6400.0 and summary["height"]["p100"] == 300.0
    assert summary["small_image_share"] == pytest.approx(3 / 5)
    assert summary["exif_rotated"] == 1
    assert summary["formats"] == {"JPEG": 4, "PNG": 1, "unknown": 1}
    assert summary["modes"] == {"RGB": 5, "unknown": 1}
    assert summary["undecodable"] == {
        "count": 1,
        "examples": [{"id": "f", "error": "not an image (unrecognised format)"}],
    }


def test_summary_without_decodable_images_has_no_percentiles():
    profile = _profile({"a": None})
    summary = summarise(KNOWN_INDEX.head(1), profile)
    assert summary["width"] is None and summary["small_image_share"] is None
    assert summary["undecodable"]["count"] == 1
