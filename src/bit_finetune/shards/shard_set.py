"""A set of TFRecord shards with a checksummed manifest, saved atomically.

On disk::

    <path>/train-00000-of-00008.tfrecord ... <path>/test-00000-of-00001.tfrecord
    <path>/manifest.json

Each record is a serialized ``tf.train.Example`` with the features of
:data:`~bit_finetune.shards.records.FEATURE_TYPES`. The manifest lists every
file with its example count, byte size and SHA-256, the examples skipped while writing,
and the metadata the writer supplied (label names, image size, encoding...).

A save writes into a hidden sibling folder, the manifest last, and only then renames
that folder to ``path`` (:func:`~bit_finetune.core.files.staged_folder`), so an
interrupted save never leaves a set that looks finished. A set counts as complete only
when its manifest exists and agrees with the files: names, sizes and counts, and with
``verify: checksum`` also SHA-256. Training and evaluation check every file of the split
they read against its size and SHA-256 (:meth:`ShardSet.verify`) and name a damaged or
missing one; damage after that check is caught on reading by TFRecord's own per-record
CRCs (:meth:`ShardSet.naming_damage` names the file). All file access goes through
``tf.io.gfile``, so any filesystem TensorFlow supports can be read and written; the swap
is atomic where a folder rename is (local filesystems). TensorFlow is imported when a set
is saved, checked or read, not with this module (see :mod:`bit_finetune.startup`).

Shard count: a split of ``n`` examples gets ``ceil(n / examples_per_shard)`` files,
rounded up to a multiple of :data:`SHARD_MULTIPLE` (8) once it needs more than one, so
file-based sharding over 1, 2, 4 or 8 workers gives every worker the same number of
files; never more files than examples. ``examples_per_shard`` is thus an upper bound.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bit_finetune.core.files import file_sha256, human_size, staged_folder
from bit_finetune.errors import IncompleteShardSetError, ShardDamagedError
from bit_finetune.shards.records import (
    FEATURE_DOCS,
    ShardPayload,
    SkippedExample,
    parse_example,
)

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARD_MULTIPLE = 8
_RESERVED = {"format_version", "examples_per_shard", "features", "splits"}
REWRITE = "kedro run --pipelines preprocessing"
"""The command that writes the shard set anew."""


@dataclass(frozen=True)
class DamagedShard:
    """A shard file that disagrees with the manifest: ``problem`` says how (expected
    against found); it holds ``records`` records by the manifest."""

    path: str
    problem: str
    records: int
    missing: bool


class _GFileFolders:
    """:class:`~bit_finetune.core.files.Folders` through ``tf.io.gfile``."""

    @property
    def _gfile(self) -> Any:
        import tensorflow as tf

        return tf.io.gfile

    def listdir(self, path: str) -> list[str]:
        return self._gfile.listdir(path) if self._gfile.isdir(path) else []

    def makedirs(self, path: str) -> None:
        self._gfile.makedirs(path)

    def exists(self, path: str) -> bool:
        return self._gfile.exists(path)

    def rename(self, source: str, target: str) -> None:
        self._gfile.rename(source, target)

    def remove(self, path: str) -> None:
        if self._gfile.isdir(path):
            self._gfile.rmtree(path)
        else:
            self._gfile.remove(path)

    def size(self, path: str) -> int:
        gfile = self._gfile
        if not gfile.isdir(path):
            return gfile.stat(path).length
        return sum(
            gfile.stat(os.path.join(root, name)).length
            for root, _, names in gfile.walk(path)
            for name in names
        )


GFILE = _GFileFolders()


def shard_count(examples: int, examples_per_shard: int) -> int:
    """How many files a split of ``examples`` gets (see the module docstring)."""
    if examples <= 0:
        return 0
    files = math.ceil(examples / examples_per_shard)
    if files > 1:
        files = math.ceil(files / SHARD_MULTIPLE) * SHARD_MULTIPLE
    return min(files, examples)


def shard_name(split: str, index: int, total: int) -> str:
    """``<split>-00003-of-00008.tfrecord``."""
    return f"{split}-{index:05d}-of-{total:05d}.tfrecord"


class ShardSet:
    """A complete shard set, as :func:`open_shard_set` returns it."""

    def __init__(self, path: str, manifest: dict[str, Any]):
        self.path = path
        self.manifest = manifest

    @property
    def label_names(self) -> list[str]:
        return list(self.manifest["label_names"])

    @property
    def image_size(self) -> int:
        """Side of the stored square images."""
        return int(self.manifest["image_size"])

    def splits(self) -> list[str]:
        return list(self.manifest["splits"])

    def files(self, split: str) -> list[str]:
        """Full paths of the split's shard files, in order."""
        return [os.path.join(self.path, f["name"]) for f in self._split(split)["files"]]

    def count(self, split: str) -> int:
        return int(self._split(split)["count"])

    def dataset(
        self, split: str, files: Sequence[str] | None = None, skip_damaged: bool = False
    ) -> tf.data.Dataset:
        """Parsed records of ``split`` (or of just ``files``), in a deterministic order;
        with ``skip_damaged`` a file is read up to its first record that cannot be read."""
        import tensorflow as tf

        paths = list(files) if files is not None else self.files(split)
        if not paths:
            raise ValueError(f"split {split!r} of the shard set at {self.path} has no files")
        records = tf.data.TFRecordDataset(
            paths, num_parallel_reads=tf.data.AUTOTUNE if len(paths) > 1 else None
        )
        if skip_damaged:
            records = records.ignore_errors(log_warning=True)
        size = self.image_size
        return records.map(
            lambda serialized: parse_example(serialized, size),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def damaged(self, split: str) -> list[DamagedShard]:
        """The split's files that are missing or differ from the manifest in size or
        SHA-256 (every file is read)."""
        import tensorflow as tf

        started = time.perf_counter()
        entries = self._split(split)["files"]
        found = []
        for entry in entries:
            path = os.path.join(self.path, entry["name"])
            problem = _file_problem(path, entry, checksum=True)
            if problem:
                missing = not tf.io.gfile.exists(path)
                found.append(DamagedShard(path, problem, int(entry["count"]), missing))
        logger.info(
            "Checked the %d files of split '%s' (%s) against the manifest in %.1f s",
            len(entries), split, human_size(sum(e["bytes"] for e in entries)),
            time.perf_counter() - started,
        )
        return found

    def verify(self, split: str) -> None:
        """Check every file of ``split`` against the manifest (size and SHA-256); raise
        :class:`ShardDamagedError` naming those that are missing or differ."""
        damaged = self.damaged(split)
        if damaged:
            raise self._damage_error(split, "; ".join(d.problem for d in damaged))

    @contextmanager
    def naming_damage(self, split: str) -> Iterator[None]:
        """Re-raise a record of ``split`` that cannot be read (``tf.errors.DataLossError``:
        a shard damaged after it was verified) as :class:`ShardDamagedError` naming the
        files that differ from the manifest now, or all of the split's files."""
        import tensorflow as tf

        try:
            yield
        except tf.errors.DataLossError as error:
            damaged = self.damaged(split)
            files = [d.problem for d in damaged] or [
                f"one of {', '.join(os.path.basename(f) for f in self.files(split))}"
            ]
            reason = re.search(r"\w+ record at \d+", error.message or "")
            problem = f"a record could not be read ({reason[0] if reason else 'data loss'})"
            raise self._damage_error(split, f"{problem}: {'; '.join(files)}") from error

    def _damage_error(self, split: str, problem: str) -> ShardDamagedError:
        """The error for damage (``problem``) to the files of ``split``, with the fix."""
        return ShardDamagedError(
            f"tfrecord_shards: split {split!r} of the shard set at {self.path} is damaged: "
            f"{problem}. Rewrite the shards with `{REWRITE}`"
        )

    def readable_records(self, shard: DamagedShard) -> int:
        """How many records of a damaged file can be read, up to the first that cannot."""
        import tensorflow as tf

        if shard.missing:
            return 0
        records = tf.data.TFRecordDataset(shard.path).ignore_errors()
        return int(records.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))

    def _split(self, split: str) -> dict[str, Any]:
        if split not in self.manifest["splits"]:
            raise KeyError(
                f"split {split!r} is not in the shard set at {self.path}; "
                f"it holds {self.splits()}"
            )
        return self.manifest["splits"][split]

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={self.count(s)}" for s in self.splits())
        return f"ShardSet({self.path!r}, {counts})"


def write_shard_set(path: str, data: ShardPayload) -> None:
    """Write ``data`` as the shard set at ``path``, replacing any set there only once the
    new one is complete (see the module docstring)."""
    import tensorflow as tf

    splits = dict(data.splits)
    _check_payload(data, splits)
    with staged_folder(path, GFILE) as staging:
        written = {
            split: _write_split(
                staging, split, records, data.expected[split], data.examples_per_shard
            )
            for split, records in splits.items()
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            **data.metadata,
            "examples_per_shard": data.examples_per_shard,
            "features": FEATURE_DOCS,
            "splits": written,
        }
        with tf.io.gfile.GFile(os.path.join(staging, MANIFEST), "w") as f:
            f.write(json.dumps(manifest, indent=2) + "\n")
    for split, entry in written.items():
        files = len(entry["files"])
        logger.info(
            "Wrote %s %s examples in %d file%s to %s (%d skipped)",
            f"{entry['count']:,}", split, files, "" if files == 1 else "s", path,
            len(entry["skipped"]),
        )


def open_shard_set(path: str, checksums: bool = False) -> ShardSet:
    """The complete shard set at ``path``: its manifest agrees with the files (names,
    sizes and counts; with ``checksums`` also SHA-256), else
    :class:`IncompleteShardSetError` saying how it does not."""
    import tensorflow as tf

    where = os.path.join(path, MANIFEST)
    fix = f"rewrite it with `{REWRITE}`"
    if not tf.io.gfile.exists(where):
        raise IncompleteShardSetError(
            f"tfrecord_shards: {path} holds no complete shard set ({MANIFEST} "
            f"is missing: never written, or the write was interrupted); {fix}"
        )
    try:
        with tf.io.gfile.GFile(where, "r") as f:
            manifest = json.loads(f.read())
        problem = _inconsistency(path, manifest, checksums)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = f"{MANIFEST} is unreadable or malformed ({type(exc).__name__}: {exc})"
    if problem:
        raise IncompleteShardSetError(
            f"tfrecord_shards: the shard set at {path} is incomplete or damaged: {problem}; "
            f"{fix}"
        )
    return ShardSet(path, manifest)


def _check_payload(data: ShardPayload, splits: dict[str, Any]) -> None:
    missing = [s for s in splits if s not in data.expected]
    if missing:
        raise ValueError(f"ShardPayload.expected gives no count for split {missing[0]!r}")
    for key in ("label_names", "image_size"):
        if key not in data.metadata:
            raise ValueError(f"ShardPayload.metadata needs {key!r} for the manifest")
    clash = sorted(_RESERVED & set(data.metadata))
    if clash:
        raise ValueError(f"ShardPayload.metadata may not set {clash}: the dataset writes them")
    if data.examples_per_shard < 1:
        raise ValueError(
            f"preprocessing.examples_per_shard: {data.examples_per_shard} must be >= 1"
        )


def _write_split(
    folder: str,
    split: str,
    records: Iterable[bytes | SkippedExample],
    expected: int,
    examples_per_shard: int,
) -> dict[str, Any]:
    """Write one split's records, spread evenly over the planned number of files.

    Files are named once the stream ends: skipped examples can leave the last planned
    files empty, and those are not written at all.
    """
    import tensorflow as tf

    planned = shard_count(expected, examples_per_shard)
    counts: list[int] = []
    skipped: list[dict[str, str]] = []
    written = 0
    writer = None
    try:
        for record in records:
            if isinstance(record, SkippedExample):
                skipped.append(asdict(record))
                continue
            if written >= expected:
                raise ValueError(
                    f"ShardPayload: split {split!r} yielded more than the expected "
                    f"{expected} examples"
                )
            shard = written * planned // expected
            if shard == len(counts):
                if writer is not None:
                    writer.close()
                writer = tf.io.TFRecordWriter(_provisional(folder, split, shard))
                counts.append(0)
            writer.write(record)
            counts[-1] += 1
            written += 1
    finally:
        if writer is not None:
            writer.close()
    files = []
    for index, count in enumerate(counts):
        name = shard_name(split, index, len(counts))
        target = os.path.join(folder, name)
        tf.io.gfile.rename(_provisional(folder, split, index), target)
        files.append(
            {
                "name": name,
                "count": count,
                "bytes": tf.io.gfile.stat(target).length,
                "sha256": file_sha256(target, tf.io.gfile.GFile),
            }
        )
    return {"count": written, "files": files, "skipped": skipped}


def _provisional(folder: str, split: str, index: int) -> str:
    return os.path.join(folder, f"{split}-{index:05d}.partial")


def _inconsistency(path: str, manifest: dict[str, Any], checksums: bool) -> str | None:
    """The first way ``manifest`` disagrees with the files under ``path``, or None."""
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"format_version is {manifest.get('format_version')!r}, not {FORMAT_VERSION}"
    if not isinstance(manifest["label_names"], list) or int(manifest["image_size"]) < 1:
        return "label_names or image_size is invalid"
    for split, entry in manifest["splits"].items():
        files = entry["files"]
        names = [shard_name(split, i, len(files)) for i in range(len(files))]
        if [f["name"] for f in files] != names:
            return f"split {split!r} does not list files {names[:1]}... in sequence"
        listed = sum(int(f["count"]) for f in files)
        if listed != entry["count"]:
            return f"split {split!r} counts {entry['count']} examples but its files hold {listed}"
        for f in files:
            problem = _file_problem(os.path.join(path, f["name"]), f, checksums)
            if problem:
                return problem
    return None


def _file_problem(path: str, entry: dict[str, Any], checksum: bool) -> str | None:
    """How the file at ``path`` differs from its manifest ``entry`` (expected against
    found), or None; with ``checksum`` its SHA-256 is computed too."""
    import tensorflow as tf

    name = entry["name"]
    if not tf.io.gfile.exists(path):
        return f"{name} is missing"
    size = tf.io.gfile.stat(path).length
    if size != entry["bytes"]:
        return f"{name} has {size:,} bytes, the manifest says {entry['bytes']:,}"
    if checksum:
        digest = file_sha256(path, tf.io.gfile.GFile)
        if digest != entry["sha256"]:
            return (
                f"{name} does not match its SHA-256 in the manifest (it has "
                f"{digest[:16]}..., the manifest says {entry['sha256'][:16]}...)"
            )
    return None
