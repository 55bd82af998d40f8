"""Hostile input: every odd file is listed, profiled and either kept or reported with a
reason; none blocks, crashes or fills the memory, and no good image is dropped."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from reliability.hostile_files import (
    EXTENSIONS,
    LINKED_CLASS,
    HostileFolder,
    good_jpeg,
    write_hostile_folder,
)
from tiny_project import copy_project, variant_environment

from bit_finetune.catalog import ImageFolderDataset
from bit_finetune.catalog.tfrecord_shards import TFRecordShardsDataset
from bit_finetune.pipelines.filtering.nodes import filter_images
from bit_finetune.pipelines.ingestion.nodes import index_images
from bit_finetune.pipelines.preprocessing.nodes import write_shards
from bit_finetune.pipelines.profiling.nodes import profile_images

QUIET = {"progress": False}
EXPECTED_REASONS = {
    "corpus/fifo.jpg": "FIFO",
    "corpus/endless_device.jpg": "character device",
    "corpus/folder_link.jpg": "directory",
    "corpus/link_to_good.jpg": "duplicate path: the same file as 'corpus/good.jpg'",
    "corpus/hard_link.jpg": "duplicate path: the same file as 'corpus/good.jpg'",
    "corpus/huge.jpg": "too large",
    "corpus/loop_a.jpg": "symbolic links",
    "corpus/dangling.jpg": "No such file",
    "corpus/bomb.png": "too many pixels",
    "corpus/text.jpg": "not an image",
    "corpus/zip_named.png": "not an image",
    "corpus/empty.jpg": "empty file",
}
MEMORY_LIMIT = 2 << 30  # bytes: far below a decoded bomb (10^10 pixels) or the huge file
RUN_TIMEOUT = 300  # seconds


@pytest.fixture
def hostile(tmp_path: Path) -> HostileFolder:
    return write_hostile_folder(tmp_path / "images")


def outcomes(
    index: pd.DataFrame, rejected: pd.DataFrame, shards_path: Path
) -> dict[str, str]:
    """Each indexed id -> ``"kept"`` (its record is in the shards) or why it was left out."""
    shards = TFRecordShardsDataset(str(shards_path)).load()
    kept = {
        example["id"].numpy().decode()
        for split in shards.splits() if shards.count(split)
        for example in shards.dataset(split)
    }
    reasons = {row.id: f"{row.reason}: {row.detail}" for row in rejected.itertuples()}
    for split in shards.splits():
        reasons.update({s["id"]: s["reason"] for s in shards.manifest["splits"][split]["skipped"]})
    return {id_: "kept" if id_ in kept else reasons.get(id_, "") for id_ in index["id"]}


def check(found: dict[str, str], hostile: HostileFolder) -> None:
    assert set(found) == set(hostile.expected)  # everything listed, hidden files aside
    assert not set(hostile.hidden) & set(found)
    dropped = {id_: found[id_] for id_ in hostile.good if found[id_] != "kept"}
    assert not dropped, f"good images left out: {dropped}"
    unexplained = [id_ for id_ in hostile.bad if found[id_] == "kept" or not found[id_]]
    assert not unexplained, f"bad files kept or left out without a reason: {unexplained}"
    for id_, words in EXPECTED_REASONS.items():
        assert words in found[id_], (id_, found[id_])


def run_data_nodes(root: Path, tmp: Path, verify: bool) -> dict[str, str]:
    """Ingestion, profiling, filtering and preprocessing over ``root``; tables go through
    Parquet like the catalog's."""
    source = ImageFolderDataset(str(root), extensions=EXTENSIONS).load()
    index, label_map = index_images(source, {})
    index.to_parquet(tmp / "index.parquet")
    profile = profile_images(source, index, {**QUIET, "verify_decode": verify})
    profile.to_parquet(tmp / "profile.parquet")
    kept, rejected = filter_images(index, profile, {})
    rejected.to_parquet(tmp / "rejected.parquet")
    payload = write_shards(source, kept, {"resize_size": 16}, label_map, {**QUIET, "workers": 1})
    TFRecordShardsDataset(str(tmp / "shards")).save(payload)
    return outcomes(pd.read_parquet(tmp / "index.parquet"),
                    pd.read_parquet(tmp / "rejected.parquet"), tmp / "shards")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("verify", [False, True], ids=["headers", "full-decode"])
def test_every_hostile_file_is_kept_or_reported(hostile, tmp_path, verify, caplog):
    with caplog.at_level(logging.INFO, logger="bit_finetune.data.image_folder"):
        found = run_data_nodes(hostile.root, tmp_path, verify)
    check(found, hostile)
    assert f"skipped {len(hostile.hidden)} hidden file(s) or folder(s)" in caplog.text
    assert set(pd.read_parquet(tmp_path / "index.parquet")["label_name"]) == {
        "corpus", "dog s", "ünï code", LINKED_CLASS
    }


@pytest.mark.timeout(60)
def test_linked_class_folders_are_followed_and_loops_are_not(tmp_path, caplog):
    """A class folder may be a symbolic link; a link back up (a loop) or to a folder already
    listed is left out with its reason in the log, and no image is listed twice."""
    root, elsewhere = tmp_path / "images", tmp_path / "elsewhere"
    for folder, count in ((root / "dog", 2), (elsewhere / "cats", 3)):
        folder.mkdir(parents=True)
        for i in range(count):
            (folder / f"{i}.jpg").write_bytes(good_jpeg(i))
    (root / "cat").symlink_to(elsewhere / "cats")
    (root / "kitten").symlink_to(root / "cat")  # the same real folder as cat
    (elsewhere / "cats/deeper").symlink_to(elsewhere)  # a loop through the linked folder
    (root / "dog/up").symlink_to(root)  # a loop in a real folder
    (root / "dog/self").symlink_to(".")
    (root / "dog/0-link.jpg").symlink_to("0.jpg")  # named to sort before its target
    with caplog.at_level(logging.INFO):
        source = ImageFolderDataset(str(root)).load()
    items = list(source.scan())
    assert [(i.id, i.label_name) for i in items] == [
        ("cat/0.jpg", "cat"), ("cat/1.jpg", "cat"), ("cat/2.jpg", "cat"),
        ("dog/0-link.jpg", "dog"), ("dog/0.jpg", "dog"), ("dog/1.jpg", "dog"),
    ]
    errors = {i.id: r.error for i, r in zip(items, source.read([i.uri for i in items]))}
    assert errors.pop("dog/0-link.jpg").startswith(
        "duplicate path: the same file as 'dog/0.jpg'"
    )
    assert set(errors.values()) == {None}
    log = " ".join(caplog.text.split())
    loop = "a folder it is in (a symlink loop)"
    assert "left out 4 folder(s)" in log
    assert f"'cat/deeper': a link to '{elsewhere.resolve()}', {loop}" in log
    assert f"'dog/self': a link to '{(root / 'dog').resolve()}', {loop}" in log
    assert f"'dog/up': a link to '{root.resolve()}', {loop}" in log
    assert "'kitten': a link to the same folder as 'cat', listed there" in log


def test_file_names_that_are_not_utf8_are_escaped_and_still_read(hostile):
    source = ImageFolderDataset(str(hostile.root), extensions=EXTENSIONS).load()
    (item,) = [i for i in source.scan() if "caf" in i.id]
    assert item.id == "corpus/latin1_caf\\xe9.jpg"
    item.uri.encode("utf-8")  # storable as text
    (read,) = source.read([item.uri])
    assert read.error is None and read.data[:2] == b"\xff\xd8"


def test_files_that_vanish_after_indexing_are_reported(hostile, tmp_path):
    source = ImageFolderDataset(str(hostile.root), extensions=EXTENSIONS).load()
    index, label_map = index_images(source, {})
    gone_before_profiling, gone_before_shards = (hostile.root / "dog s/0.jpg",
                                                 hostile.root / "dog s/1.jpg")
    gone_before_profiling.unlink()
    profile = profile_images(source, index, QUIET)
    row = profile.set_index("id").loc["dog s/0.jpg"]
    assert not row["decodable"] and "FileNotFoundError" in row["error"]
    kept, rejected = filter_images(index, profile, {})
    assert "dog s/0.jpg" in set(rejected["id"])
    gone_before_shards.unlink()
    TFRecordShardsDataset(str(tmp_path / "shards")).save(
        write_shards(source, kept, {"resize_size": 16}, label_map, {**QUIET, "workers": 1})
    )
    found = outcomes(index, rejected, tmp_path / "shards")
    assert "FileNotFoundError" in found["dog s/1.jpg"]
    assert found["dog s/2.jpg"] == "kept"


@pytest.mark.slow
def test_kedro_run_over_a_hostile_folder(hostile, tmp_path):
    """The data stages as a user runs them, in a process whose peak memory is measured."""
    project = tmp_path / "project"
    variant_environment(copy_project(project) / "conf", "hostile", catalog={"raw_images": {
        "type": "bit_finetune.catalog.ImageFolderDataset", "path": str(hostile.root),
        "extensions": list(EXTENSIONS),
    }})
    params = ("hyperrule.overrides.resize_size=32,hyperrule.overrides.crop_size=32,"
              "profiling.progress=false,preprocessing.progress=false")
    command = [sys.executable, "-m", "kedro", "run", "--env", "hostile", "--params", params,
               "--pipelines", "ingestion,profiling,filtering,hyperrule,preprocessing"]
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=project, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"})
        watchdog = threading.Timer(RUN_TIMEOUT, process.kill)  # a blocked read must not hang
        watchdog.start()
        _, status, usage = os.wait4(process.pid, 0)
        watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, log.read_text()[-4000:]
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    assert peak < MEMORY_LIMIT, f"peak memory {peak / 2**20:.0f} MiB"
    data = project / "data"
    found = outcomes(pd.read_parquet(data / "02_intermediate/image_index.parquet"),
                     pd.read_parquet(data / "03_primary/rejected_images.parquet"),
                     data / "05_model_input/shards")
    check(found, hostile)
