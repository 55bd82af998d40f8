"""Filtering node: its parameters and its outputs (the rules themselves:
``tests/imaging/test_screening.py``)."""

from __future__ import annotations

import pandas as pd
import pytest

from bit_finetune.errors import ConfigError
from bit_finetune.imaging.screening import REJECTED_COLUMNS
from bit_finetune.pipelines.filtering.nodes import filter_images
from bit_finetune.pipelines.profiling.nodes import profile_images
from tests.bad_images import HEADER_ONLY_PASSES
from tests.imaging.profiled import ALL_CHECKS, CASES, tables


def test_outputs_follow_the_contract(tmp_path):
    index, profile = tables(CASES)
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


def test_bad_parameters_name_the_key():
    index, profile = tables(CASES)
    with pytest.raises(ConfigError, match="filtering.min_side"):
        filter_images(index, profile, {"min_side": 0})


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
