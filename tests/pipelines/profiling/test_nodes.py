"""Profiling nodes: the profile table, its summary and plots."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from bit_finetune.datasets.source import ImageSource, ReadResult, SourceItem
from bit_finetune.imaging import probe_reads
from bit_finetune.pipelines.profiling import create_pipeline
from bit_finetune.pipelines.profiling import nodes as profiling
from tests.bad_images import FileSource, index_of, write_corpus

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


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    expected = write_corpus(folder)
    source = FileSource(folder)
    return expected, source, index_of(source)


def test_every_file_is_profiled_and_every_bad_one_says_why(corpus):
    expected, source, index = corpus
    profile = profiling.profile_images(source, index, PARAMS)
    assert list(profile.columns) == list(profiling.PROFILE_COLUMNS)
    assert profile["id"].tolist() == index["id"].tolist()
    outcome = dict(zip(profile["id"], profile["decodable"]))
    assert outcome == expected
    assert profile.loc[~profile["decodable"], "error"].notna().all()
    assert profile.loc[profile["decodable"], "error"].isna().all()
    assert str(profile["channels"].dtype) == "Int64"
    assert str(profile["orientation"].dtype) == "Int64"
    assert profile.set_index("id").loc["rotated.jpg", "orientation"] == 6


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
    index = _index([("a", "cat", "train"), ("b", "cat", "train")])
    with pytest.raises(RuntimeError, match="one result per uri"):
        profiling.profile_images(LossySource({"mem:b"}), index, PARAMS)


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
    return pd.DataFrame(rows).astype(profiling.PROFILE_DTYPES)


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
    summary = profiling.summarise_profile(KNOWN_INDEX, KNOWN_PROFILE)
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
    summary = profiling.summarise_profile(KNOWN_INDEX.head(1), profile)
    assert summary["width"] is None and summary["small_image_share"] is None
    assert summary["undecodable"]["count"] == 1


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
