"""The storage fault matrix: each fault injected at its stage of a finished tiny project.
The run stops with the documented message (or, skipping damaged records, finishes), no
good artefact is lost, no partial file is left, and the rerun after the documented fix
finishes.

| fault | stage | outcome |
|---|---|---|
| 64 bytes flipped mid-file in a train shard | training | stops: file, SHA-256 found and expected, rewrite command; rerun after it finishes |
| the same, `skip_damaged_records: true` | training | finishes; a warning counts the records skipped |
| a train shard damaged after the check | training | stops: the record, the file, rewrite command; rerun after it finishes |
| 64 bytes flipped in the test shard | evaluation | stops: file, SHA-256, rewrite command; rerun after it finishes |
| a train shard deleted | training | stops: the file is missing, rewrite command; rerun after it finishes |
| file size limit (EFBIG) | preprocessing: shard set | stops: path, reason, bytes written, space free; old set kept; rerun finishes |
| disk full (ENOSPC) | training: classifier.keras | stops: path, reason, bytes written, space free; old model kept |
| file size limit (EFBIG) | training: Keras's temporary file | stops naming classifier.keras; old model kept |
| file size limit (EFBIG) | training: serving SavedModel | stops: path, reason, bytes written, space free; old model kept |
| file size limit | training: a checkpoint | stops: the checkpoints folder and space; earlier checkpoints kept; rerun finishes |
| disk full (ENOSPC) | training: workspace history.csv | stops: path, space; history and checkpoint of step 2 kept; rerun resumes |
| disk full (ENOSPC) | evaluation: report.md | stops: path, space; old report kept; rerun finishes |
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tensorflow as tf
from storage_faults import (
    damage_record,
    fail_writes_after,
    record_spans,
    with_file_size_limit,
)
from tiny_project import copy_of, files, partial_files, recipe_folder, run_in_process, tiny

from bit_finetune.catalog import SavedModelDataset, TFRecordShardsDataset
from bit_finetune.catalog.keras_model import KerasModelDataset
from bit_finetune.errors import (
    IncompleteShardSetError,
    ShardDamagedError,
    StorageFullError,
    UserError,
    expected,
)
from bit_finetune.shards.shard_set import ShardSet

pytestmark = pytest.mark.slow

REWRITE = "kedro run --pipelines preprocessing"
SHARDS = "05_model_input/shards"
WORKSPACES = "06_models/training"
CLASSIFIER = "06_models/classifier.keras"
RECORDS = "08_reporting/run_record.json/"
FRESH = tiny(training__resume=False)  # trains the recipe again (its folder moved aside)


@pytest.fixture
def project(trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the session's trained project: shards, models, reports."""
    monkeypatch.chdir(tmp_path)
    return copy_of(trained_project, tmp_path / "project")


def artefacts(project: Path) -> dict[str, str]:
    """SHA-256 of every artefact but the run records (one more per run)."""
    return {k: v for k, v in files(project / "data").items() if not k.startswith(RECORDS)}


def stopped(project: Path, params: dict[str, Any] | None = None, **run: Any) -> UserError:
    """The expected error that ends ``kedro run`` (in this process)."""
    with pytest.raises(Exception) as failure:
        run_in_process(project, params or tiny(), **run)
    error = expected(failure.value)
    assert error is not None, failure.value
    return error


def assert_kept(project: Path, before: dict[str, str], *changed: str) -> None:
    """Every artefact in ``before`` is there byte for byte, but those under ``changed``
    (damaged by the test, or legitimately rewritten); no partial file is left."""

    def kept(found: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in found.items() if not k.startswith(changed)}

    assert kept(artefacts(project)) == kept(before)
    assert partial_files(project / "data") == []


def assert_out_of_room(error: UserError, target: Path, reason: str, written: str) -> None:
    assert isinstance(error, StorageFullError)
    message = str(error)
    assert message.startswith(f"{target}: not saved ({reason}): the save needs {written}"), message
    assert "is free on that file system; the previous version is kept" in message


def middle_record(shard: Path) -> int:
    return len(record_spans(shard)) // 2


def test_a_damaged_shard_stops_training_until_the_shards_are_rewritten(project):
    before = artefacts(project)
    shard = project / "data" / SHARDS / "train-00003-of-00008.tfrecord"
    damage_record(shard, middle_record(shard))

    error = stopped(project, pipeline_names=["training"])
    assert isinstance(error, ShardDamagedError)
    assert re.search(
        rf"split 'train' .* is damaged: {shard.name} does not match its SHA-256 in the "
        r"manifest \(it has [0-9a-f]{16}\.\.\., the manifest says [0-9a-f]{16}\.\.\.\)\. "
        rf"Rewrite the shards with `{REWRITE}`$", str(error),
    )
    assert_kept(project, before, f"{SHARDS}/{shard.name}")

    run_in_process(project, tiny(), pipeline_names=["preprocessing"])  # the documented fix
    assert artefacts(project) == before  # the same shards, byte for byte
    run_in_process(project, tiny(), pipeline_names=["training"])


def test_skipping_damaged_records_trains_on_and_counts_them(project, caplog):
    shard = project / "data" / SHARDS / "train-00000-of-00008.tfrecord"
    records = len(record_spans(shard))
    damage_record(shard, 1)  # read in the first steps (see the next test)
    train = TFRecordShardsDataset(str(project / "data" / SHARDS)).load().count("train")

    with caplog.at_level(logging.WARNING):
        run_in_process(project, tiny(training__resume=False, training__skip_damaged_records=True),
                       pipeline_names=["training"])
    assert (
        f"training.skip_damaged_records: {records - 1} of the {train} records of split "
        f"'train' are skipped in every epoch: {shard.name} does not match its SHA-256"
    ) in caplog.text
    assert f": {records - 1} of its {records} records" in caplog.text


def test_a_shard_damaged_during_training_is_named(project, monkeypatch):
    before = artefacts(project)
    shard = project / "data" / SHARDS / "train-00000-of-00008.tfrecord"
    verify = ShardSet.verify

    def verify_then_damage(self: ShardSet, split: str) -> None:
        verify(self, split)
        damage_record(shard, 1)

    monkeypatch.setattr(ShardSet, "verify", verify_then_damage)
    error = stopped(project, FRESH, pipeline_names=["training"])
    assert isinstance(error, ShardDamagedError)
    assert re.search(
        rf"a record could not be read \(corrupted record at \d+\): {shard.name} does not "
        rf"match its SHA-256 in the manifest .*Rewrite the shards with `{REWRITE}`$", str(error),
    )
    assert_kept(project, before, f"{SHARDS}/{shard.name}", WORKSPACES)

    monkeypatch.undo()
    run_in_process(project, tiny(), pipeline_names=["preprocessing"])
    run_in_process(project, tiny(), pipeline_names=["training"])
    history = pd.read_csv(project / "data/07_model_output/training_history.csv")
    assert history["step"].tolist() == list(range(1, 7))


def test_a_damaged_shard_stops_evaluation_until_the_shards_are_rewritten(project):
    before = artefacts(project)
    shard = project / "data" / SHARDS / "test-00000-of-00001.tfrecord"
    damage_record(shard, middle_record(shard))

    error = stopped(project, pipeline_names=["evaluation"])
    assert isinstance(error, ShardDamagedError)
    assert f"split 'test' of the shard set at {project / 'data' / SHARDS}" in str(error)
    assert f"{shard.name} does not match its SHA-256" in str(error)
    assert str(error).endswith(f"`{REWRITE}`")
    assert_kept(project, before, f"{SHARDS}/{shard.name}")

    run_in_process(project, tiny(), pipeline_names=["preprocessing"])
    run_in_process(project, tiny(), pipeline_names=["evaluation"])


def test_a_missing_shard_stops_training_until_the_shards_are_rewritten(project):
    before = artefacts(project)
    shard = project / "data" / SHARDS / "train-00005-of-00008.tfrecord"
    shard.unlink()

    error = stopped(project, pipeline_names=["training"])
    assert isinstance(error, IncompleteShardSetError)
    assert f"{shard.name} is missing; rewrite it with `{REWRITE}`" in str(error)
    assert_kept(project, before, f"{SHARDS}/{shard.name}")

    run_in_process(project, tiny(), pipeline_names=["preprocessing"])
    assert artefacts(project) == before
    run_in_process(project, tiny(), pipeline_names=["training"])


def test_a_full_disk_while_writing_shards_keeps_the_old_set(project, monkeypatch):
    before = artefacts(project)
    limited = with_file_size_limit(TFRecordShardsDataset.save, 100_000)
    monkeypatch.setattr(TFRecordShardsDataset, "save", limited)

    error = stopped(project, pipeline_names=["preprocessing"])
    assert_out_of_room(error, project / "data" / SHARDS, "File too large",
                       "more than the 100.0 kB it had written")
    assert "raise the file size limit (ulimit -f) and run again" in str(error)
    assert_kept(project, before)

    monkeypatch.undo()
    run_in_process(project, tiny(), pipeline_names=["preprocessing"])
    assert artefacts(project) == before


def test_a_full_disk_while_saving_the_model_keeps_the_old_one(project, monkeypatch):
    before = artefacts(project)
    fail_writes_after(monkeypatch, 100_000, where="classifier.keras")

    error = stopped(project, pipeline_names=["training"])
    assert_out_of_room(error, project / "data" / CLASSIFIER, "No space left on device",
                       "more than the 100.0 kB it had written")
    assert_kept(project, before)

    monkeypatch.undo()
    run_in_process(project, tiny(), pipeline_names=["training"])


def test_the_file_size_limit_on_keras_temporary_file_names_the_model(project, monkeypatch):
    before = artefacts(project)
    limited = with_file_size_limit(KerasModelDataset.save, 1_000_000)
    monkeypatch.setattr(KerasModelDataset, "save", limited)

    error = stopped(project, pipeline_names=["training"])
    assert_out_of_room(error, project / "data" / CLASSIFIER, "File too large", "more room")
    assert_kept(project, before)


def test_a_full_disk_while_exporting_the_serving_model_keeps_the_old_one(project, monkeypatch):
    before = artefacts(project)
    limited = with_file_size_limit(SavedModelDataset.save, 1_000_000)
    monkeypatch.setattr(SavedModelDataset, "save", limited)

    error = stopped(project, node_names=["training.export_serving_model"])
    assert_out_of_room(error, project / "data/06_models/serving", "File too large",
                       "more than the ")
    assert_kept(project, before)

    monkeypatch.undo()
    run_in_process(project, tiny(), node_names=["training.export_serving_model"])


def test_a_full_disk_while_saving_the_history_resumes_from_the_checkpoint(project, monkeypatch):
    workspace = recipe_folder(project / "data" / WORKSPACES)
    lines = (workspace / "history.csv").read_text().splitlines(keepends=True)
    at_step = {step: len("".join(lines[: step + 1]).encode()) for step in (2, 4)}
    fail_writes_after(monkeypatch, (at_step[2] + at_step[4]) // 2, where=f"{os.sep}history.csv")

    error = stopped(project, FRESH, pipeline_names=["training"])
    assert_out_of_room(error, workspace / "history.csv", "No space left on device",
                       "more than the ")
    assert pd.read_csv(workspace / "history.csv")["step"].tolist() == [1, 2]
    assert tf.train.latest_checkpoint(str(workspace / "checkpoints")).endswith("-2")
    assert partial_files(project / "data") == []

    monkeypatch.undo()
    run_in_process(project, tiny(), pipeline_names=["training"])
    assert pd.read_csv(workspace / "history.csv")["step"].tolist() == list(range(1, 7))


def test_a_full_disk_while_writing_the_report_keeps_the_old_one(project, monkeypatch):
    before = artefacts(project)
    fail_writes_after(monkeypatch, 1000, where="report.md")

    error = stopped(project, pipeline_names=["evaluation"])
    assert_out_of_room(error, project / "data/08_reporting/report.md",
                       "No space left on device", "more than the 1.0 kB it had written")
    assert_kept(project, before)

    monkeypatch.undo()
    run_in_process(project, tiny(), pipeline_names=["evaluation"])


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_earlier_ones(project, monkeypatch):
    earlier = recipe_folder(project / "data" / WORKSPACES)
    before = files(earlier)
    limited = with_file_size_limit(tf.train.CheckpointManager.save, 10_000)
    monkeypatch.setattr(tf.train.CheckpointManager, "save", limited)
    reseeded = tiny(training__seed=1)  # a new recipe: its first checkpoint is saved at step 2

    error = stopped(project, reseeded, pipeline_names=["training"])
    assert isinstance(error, StorageFullError)
    assert re.match(r".*/checkpoints: not saved \(File too large\): the save needs more room",
                    str(error)), error
    assert files(earlier) == before  # the other recipe's checkpoints untouched
    assert not list((project / "data" / WORKSPACES).glob("*/checkpoints/*_temp"))

    monkeypatch.undo()
    run_in_process(project, reseeded, pipeline_names=["training"])
    history = pd.read_csv(project / "data/07_model_output/training_history.csv")
    assert history["step"].max() == 6
