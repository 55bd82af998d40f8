"""The one atomic-write mechanism: staged files and folders replace their target only
when complete, sweep what killed saves left, and name a save that runs out of room with
its path and the space."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from storage_faults import fail_writes_after, file_size_limit

from bit_finetune.core.files import human_size, staged_file, staged_folder
from bit_finetune.errors import StorageFullError, UserError

OLD, NEW = b"old artefact\n", b"new artefact, longer than the old one\n" * 500


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_staged_file_replaces_its_target_once_complete(tmp_path):
    target = tmp_path / "sub" / "history.csv"
    with staged_file(target) as f:
        f.write(OLD)
    with staged_file(target) as f:
        f.write(NEW)
        assert target.read_bytes() == OLD  # still the old one while writing
        assert [name.endswith(".partial") for name in hidden(target.parent)] == [True]
    assert target.read_bytes() == NEW and hidden(target.parent) == []


def test_a_failed_staged_file_keeps_the_old_one(tmp_path):
    target = tmp_path / "recipe.json"
    target.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="interrupted"), staged_file(target, "w") as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == OLD and hidden(tmp_path) == []


def test_a_staged_folder_replaces_its_target_and_sweeps_leftovers(tmp_path):
    target = tmp_path / "serving"
    target.mkdir()
    (target / "old.pb").write_bytes(OLD)
    for leftover in (".serving.0123abcd.partial", ".serving.4567ef01.replaced"):
        (tmp_path / leftover).mkdir()
        (tmp_path / leftover / "half.pb").write_bytes(b"half")
    (tmp_path / ".serving.89abcdef.partial.txt").write_bytes(b"not a leftover of ours")
    (tmp_path / ".serving_v2.0123abcd.partial").write_bytes(b"another artefact's")
    with staged_folder(str(target)) as staging:
        Path(staging, "new.pb").write_bytes(NEW)
        assert (target / "old.pb").is_file()
    assert [p.name for p in target.iterdir()] == ["new.pb"]
    assert hidden(tmp_path) == [".serving.89abcdef.partial.txt", ".serving_v2.0123abcd.partial"]


def test_a_failed_staged_folder_keeps_the_old_one(tmp_path):
    target = tmp_path / "shards"
    target.mkdir()
    (target / "manifest.json").write_bytes(OLD)
    with pytest.raises(RuntimeError, match="interrupted"), staged_folder(str(target)) as staging:
        Path(staging, "manifest.json").write_bytes(NEW)
        raise RuntimeError("interrupted")
    assert (target / "manifest.json").read_bytes() == OLD and hidden(tmp_path) == []


def assert_reported(error: BaseException, target: Path, reason: str, written: str) -> None:
    """A :class:`StorageFullError` naming the target, the reason, what the save wrote and
    the space free."""
    assert isinstance(error, StorageFullError) and isinstance(error, UserError)
    message = str(error)
    assert message.startswith(f"{target}: not saved ({reason})"), message
    assert f"needs more than the {written} it had written" in message
    assert "is free on that file system; the previous version is kept" in message


def test_a_full_disk_while_writing_a_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_bytes(OLD)
    fail_writes_after(monkeypatch, 4000)
    with pytest.raises(StorageFullError) as failure, staged_file(target) as f:
        f.write(NEW)
    assert_reported(failure.value, target, "No space left on device", "4.0 kB")
    assert target.read_bytes() == OLD and hidden(tmp_path) == []


@pytest.mark.parametrize("size", [3000, 30_000], ids=["written-out-on-close", "in-the-block"])
def test_a_full_disk_while_writing_text(tmp_path, monkeypatch, size):
    target = tmp_path / "history.csv"
    target.write_bytes(OLD)
    fail_writes_after(monkeypatch, 2000)
    with pytest.raises(StorageFullError) as failure, staged_file(target, "w") as f:
        f.write("x" * size)
    assert_reported(failure.value, target, "No space left on device", "2.0 kB")
    assert target.read_bytes() == OLD and hidden(tmp_path) == []


def test_text_dropped_unclosed_is_not_saved(tmp_path):
    target = tmp_path / "report.md"
    target.write_bytes(OLD)
    f = staged_file(target, "w")
    f.write("half a report")
    del f
    assert target.read_bytes() == OLD and hidden(tmp_path) == []


def test_the_file_size_limit_while_writing_a_file(tmp_path):
    target = tmp_path / "report.md"
    target.write_bytes(OLD)
    with (
        pytest.raises(StorageFullError) as failure,
        file_size_limit(5000),
        staged_file(target) as f,
    ):
        f.write(NEW)
    assert_reported(failure.value, target, "File too large", "5.0 kB")
    assert "raise the file size limit (ulimit -f)" in str(failure.value)
    assert target.read_bytes() == OLD and hidden(tmp_path) == []


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), "Disk quota exceeded"),
        (RuntimeError("data/x/train-00000.partial; No space left on device"),
         "No space left on device"),  # as TensorFlow's file errors say it
    ],
    ids=["quota", "tensorflow"],
)
def test_running_out_of_room_while_writing_a_folder(tmp_path, failure, reason):
    target = tmp_path / "shards"
    target.mkdir()
    (target / "manifest.json").write_bytes(OLD)
    with pytest.raises(StorageFullError) as raised, staged_folder(str(target)) as staging:
        Path(staging, "train-00000.partial").write_bytes(b"x" * 3000)
        raise failure
    assert_reported(raised.value, target, reason, "3.0 kB")
    assert raised.value.__cause__ is failure
    assert (target / "manifest.json").read_bytes() == OLD and hidden(tmp_path) == []


def test_other_errors_are_left_as_they_are(tmp_path):
    with pytest.raises(PermissionError), staged_folder(str(tmp_path / "serving")):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    assert hidden(tmp_path) == []


def test_human_sizes():
    assert [human_size(n) for n in (999, 1000, 12_345_678, 3 * 10**12)] == [
        "999 B", "1.0 kB", "12.3 MB", "3.0 TB"]  # fmt: skip
