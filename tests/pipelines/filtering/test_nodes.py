"""Filtering node: what is kept, what is rejected and why."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from bit_finetune.errors import ConfigError
from bit_finetune.imaging.profile import PROFILE_DTYPES
from bit_finetune.pipelines.filtering.nodes import REJECTED_COLUMNS, filter_images
from bit_finetune.pipelines.profiling.nodes import profile_images
from tests.bad_images import HEADER_ONLY_PASSES, FileSource, index_of, write_corpus

ALL_CHECKS = {
    "enabled": True,
    "min_side": 32,
    "max_side": 1000,
    "max_aspect_ratio": 3.0,
    "deduplicate": True,
}


def _tables(rows: list[tuple[str, tuple[int, int] | None, str]]):
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


def _reasons(rejected: pd.DataFrame) -> dict[str, str]:
    return dict(zip(rejected["id"], rejected["reason"]))


def test_undecodable_images_are_rejected_even_when_filtering_is_disabled():
    index, profile = _tables(CASES)
    kept, rejected = filter_images(index, profile, {"enabled": False, "min_side": 500})
    assert _reasons(rejected) == {"broken": "undecodable"}
    assert rejected["detail"].tolist() == ["empty file"]
    assert kept["id"].tolist() == [i for i, *_ in CASES if i != "broken"]


def test_each_check_rejects_with_its_first_applicable_reason():
    index, profile = _tables(CASES)
    kept, rejected = filter_images(index, profile, ALL_CHECKS)
    assert _reasons(rejected) == {
        "broken": "undecodable",
        "tiny": "too_small",
        "huge": "too_large",
        "wide": "aspect_ratio",
        "copy": "duplicate",
        "tiny_copy": "too_small",
    }
    assert kept["id"].tolist() == ["ok", "ok2"]
    assert rejected["id"].is_unique
    details = dict(zip(rejected["id"], rejected["detail"]))
    assert details["tiny"] == "20x200 px: shorter side < min_side 32"
    assert details["huge"] == "1200x900 px: longer side > max_side 1000"
    assert details["wide"] == "4.00 > max_aspect_ratio 3"
    assert details["copy"] == "same bytes as ok"


@pytest.mark.parametrize(
    ("setting", "rejected_ids"),
    [
        ({"min_side": 100}, {"broken", "tiny", "tiny_copy", "ok2"}),
        ({"max_side": 300}, {"broken", "huge", "wide"}),
        ({"max_aspect_ratio": 1.4}, {"broken", "tiny", "tiny_copy", "wide"}),
        ({"deduplicate": True}, {"broken", "copy", "tiny_copy"}),
    ],
)
def test_checks_run_one_at_a_time(setting, rejected_ids):
    index, profile = _tables(CASES)
    kept, rejected = filter_images(index, profile, {"enabled": True} | setting)
    assert set(rejected["id"]) == rejected_ids
    assert set(kept["id"]) == {i for i, *_ in CASES} - rejected_ids


def test_outputs_follow_the_contract(tmp_path):
    index, profile = _tables(CASES)
    kept, rejected = filter_images(index, profile, ALL_CHECKS)
    assert list(kept.columns) == ["id", "uri", "label", "label_name", "split", "width", "height"]
    assert kept[["label", "width", "height"]].dtypes.tolist() == ["int64"] * 3
    assert list(rejected.columns) == REJECTED_COLUMNS
    kept.to_parquet(tmp_path / "kept.parquet")
    rejected.to_parquet(tmp_path / "rejected.parquet")
    assert (
        pd.read_parquet(tmp_path / "rejected.parquet")["reason"].tolist()
        == rejected["reason"].tolist()
    )


def test_nothing_rejected_gives_an_empty_table_with_the_columns():
    index, profile = _tables([("ok", (200, 150), "s1")])
    kept, rejected = filter_images(index, profile, {})
    assert len(kept) == 1 and rejected.empty
    assert list(rejected.columns) == REJECTED_COLUMNS


def test_counts_by_reason_are_logged(caplog):
    index, profile = _tables(CASES)
    with caplog.at_level(logging.INFO, logger="bit_finetune.pipelines.filtering.nodes"):
        filter_images(index, profile, ALL_CHECKS)
    assert "Kept 2 of 8 images" in caplog.text
    assert "Rejected 2 images: too_small" in caplog.text


def test_a_profile_from_another_index_is_refused():
    index, profile = _tables(CASES)
    with pytest.raises(ValueError, match="re-run the profiling stage"):
        filter_images(index, profile.iloc[1:], {})


def test_bad_parameters_name_the_key():
    index, profile = _tables(CASES)
    with pytest.raises(ConfigError, match="filtering.min_side"):
        filter_images(index, profile, {"min_side": 0})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    expected = write_corpus(folder)
    source = FileSource(folder)
    return expected, source, index_of(source)


@pytest.mark.parametrize("verify", [True, False])
def test_every_good_corpus_file_is_kept_and_every_bad_one_rejected(corpus, verify):
    expected, source, index = corpus
    params = {"verify_decode": verify, "workers": 1, "progress": False}
    profile = profile_images(source, index, params)
    kept, rejected = filter_images(index, profile, {"enabled": False})
    good = {name for name, ok in expected.items() if ok}
    # Header-only profiling cannot see truncation; the shard writer catches those files.
    slipped = set() if verify else set(HEADER_ONLY_PASSES)
    assert set(kept["id"]) == good | slipped
    assert set(rejected["id"]) == set(expected) - good - slipped
    assert set(rejected["reason"]) == {"undecodable"}
