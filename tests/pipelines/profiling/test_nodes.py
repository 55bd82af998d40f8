"""Profiling nodes: the profile of every image, the wiring (the summary:
``tests/imaging/test_profile.py``; the figures: ``tests/imaging/test_plots.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from bit_finetune.data.source import ImageSource, ReadResult, SourceItem
from bit_finetune.imaging import probe_reads
from bit_finetune.imaging.profile import PROFILE_COLUMNS
from bit_finetune.pipelines.profiling import create_pipeline
from bit_finetune.pipelines.profiling import nodes as profiling
from tests.bad_images import index_of
from tests.listed_source import ListedSource

PARAMS = {"verify_decode": True, "workers": 1, "progress": False}


class LossySource(ImageSource):
    """Reads nothing for uris it was told to drop."""

    def __init__(self, drop: set[str]):
        self.drop = drop

    def scan(self) -> Iterator[SourceItem]:
        return iter(())

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        return (ReadResult(u, b"") for u in uris if u not in self.drop)

    def describe(self) -> dict:
        return {"type": "LossySource"}


def test_every_file_is_profiled_and_every_bad_one_says_why(corpus):
    expected, source, index = corpus
    profile = profiling.profile_images(source, index, PARAMS)
    assert list(profile.columns) == list(PROFILE_COLUMNS)
    assert profile["id"].tolist() == index["id"].tolist()
    outcome = dict(zip(profile["id"], profile["decodable"]))
    assert outcome == expected
    assert profile.loc[~profile["decodable"], "error"].notna().all()
    assert profile.loc[profile["decodable"], "error"].isna().all()
    assert str(profile["channels"].dtype) == "Int64"
    assert str(profile["orientation"].dtype) == "Int64"
    assert profile.set_index("id").loc["rotated.jpg", "orientation"] == 6


@pytest.mark.slow
def test_full_decodes_use_the_pool_and_give_the_same_profile(corpus, monkeypatch):
    _, source, index = corpus
    serial = profiling.profile_images(source, index, PARAMS)
    used = []

    def spy(reads, *, verify, workers):
        used.append(workers)
        return probe_reads(reads, verify=verify, workers=workers)

    monkeypatch.setattr(profiling, "PARALLEL_FROM", 1)
    monkeypatch.setattr(profiling, "probe_reads", spy)
    pooled = profiling.profile_images(source, index, PARAMS | {"workers": 2})
    profiling.profile_images(source, index, PARAMS | {"workers": 2, "verify_decode": False})
    assert used == [2, 1]  # header reads stay in-process
    pd.testing.assert_frame_equal(serial, pooled)


def test_profile_rows_follow_the_index_even_for_repeated_uris(corpus):
    _, source, index = corpus
    doubled = pd.concat([index, index.assign(id=index["id"] + "#2")], ignore_index=True)
    profile = profiling.profile_images(source, doubled, PARAMS)
    assert profile["id"].tolist() == doubled["id"].tolist()
    first, second = profile["sha1"].iloc[: len(index)], profile["sha1"].iloc[len(index) :]
    assert first.tolist() == second.tolist()


def test_a_source_that_skips_uris_is_reported():
    index = index_of(ListedSource([SourceItem(i, f"mem:{i}", "cat", "train") for i in "ab"]))
    with pytest.raises(RuntimeError, match="one result per uri"):
        profiling.profile_images(LossySource({"mem:b"}), index, PARAMS)


def test_pipeline_runs_in_memory(corpus):
    _, source, index = corpus
    pipeline = create_pipeline()
    assert {n.name for n in pipeline.nodes} == {
        "profile_images", "summarise_profile", "plot_resolution", "plot_class_balance"
    }  # fmt: skip
    assert all(n.tags == {"profiling"} for n in pipeline.nodes)
    catalog = DataCatalog(
        {
            "raw_images": MemoryDataset(source, copy_mode="assign"),
            "image_index": MemoryDataset(index),
            "params:profiling": MemoryDataset(PARAMS),
        }
    )
    SequentialRunner().run(pipeline, catalog)
    assert catalog.load("profile_summary")["examples"] == len(index)
    assert isinstance(catalog.load("resolution_plot"), Figure)
