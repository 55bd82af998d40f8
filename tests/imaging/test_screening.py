"""Screening: what is kept, what is rejected and why (the node's parameters and outputs:
``tests/pipelines/filtering/test_nodes.py``)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from bit_finetune.config import FilteringParams
from bit_finetune.imaging.screening import REJECTED_COLUMNS, screen
from tests.imaging.profiled import ALL_CHECKS, CASES, tables


def _reasons(rejected: pd.DataFrame) -> dict[str, str]:
    return dict(zip(rejected["id"], rejected["reason"]))


def test_undecodable_images_are_rejected_even_when_filtering_is_disabled():
    index, profile = tables(CASES)
    kept, rejected = screen(index, profile, FilteringParams(enabled=False, min_side=500))
    assert _reasons(rejected) == {"broken": "undecodable"}
    assert rejected["detail"].tolist() == ["empty file"]
    assert kept["id"].tolist() == [i for i, *_ in CASES if i != "broken"]


def test_each_check_rejects_with_its_first_applicable_reason():
    index, profile = tables(CASES)
    kept, rejected = screen(index, profile, FilteringParams(**ALL_CHECKS))
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
    index, profile = tables(CASES)
    kept, rejected = screen(index, profile, FilteringParams(enabled=True, **setting))
    assert set(rejected["id"]) == rejected_ids
    assert set(kept["id"]) == {i for i, *_ in CASES} - rejected_ids


def test_nothing_rejected_gives_an_empty_table_with_the_columns():
    index, profile = tables([("ok", (200, 150), "s1")])
    kept, rejected = screen(index, profile, FilteringParams())
    assert len(kept) == 1 and rejected.empty
    assert list(rejected.columns) == REJECTED_COLUMNS


def test_counts_by_reason_are_logged(caplog):
    index, profile = tables(CASES)
    with caplog.at_level(logging.INFO, logger="bit_finetune.imaging.screening"):
        screen(index, profile, FilteringParams(**ALL_CHECKS))
    assert "Kept 2 of 8 images" in caplog.text
    assert "Rejected 2 images: too_small" in caplog.text


def test_a_profile_from_another_index_is_refused():
    index, profile = tables(CASES)
    with pytest.raises(ValueError, match="re-run the profiling stage"):
        screen(index, profile.iloc[1:], FilteringParams())
