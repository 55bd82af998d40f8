"""Kedro dataset for a TFRecord shard set (:mod:`bit_finetune.shards.shard_set`)."""

from __future__ import annotations

from typing import Any, Literal

from kedro.io import AbstractDataset

from bit_finetune.catalog.previews import TablePreview, table
from bit_finetune.errors import IncompleteShardSetError
from bit_finetune.shards.records import ShardPayload
from bit_finetune.shards.shard_set import ShardSet, open_shard_set, write_shard_set


class TFRecordShardsDataset(AbstractDataset[ShardPayload, ShardSet]):
    """Kedro dataset for a TFRecord shard set: saves a :class:`ShardPayload`, loads a
    :class:`ShardSet`.

    Args:
        path: the shard set's folder.
        verify: ``size`` (default) checks that every listed file exists with the
            recorded size and that the counts add up; ``checksum`` also recomputes
            every file's SHA-256 (reads the whole set).
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    def __init__(
        self,
        path: str,
        verify: Literal["size", "checksum"] = "size",
        metadata: dict[str, Any] | None = None,
    ):
        if verify not in ("size", "checksum"):
            raise ValueError(f"tfrecord_shards.verify: {verify!r} is not 'size' or 'checksum'")
        self._path = str(path).rstrip("/")
        self._verify = verify
        self.metadata = metadata

    def load(self) -> ShardSet:
        return open_shard_set(self._path, self._verify == "checksum")

    def save(self, data: ShardPayload) -> None:
        write_shard_set(self._path, data)

    def _exists(self) -> bool:
        try:
            open_shard_set(self._path, self._verify == "checksum")
        except IncompleteShardSetError:
            return False
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "verify": self._verify}

    def preview(self) -> TablePreview:
        """Per split: examples, files and skipped examples (from the manifest)."""
        rows = [
            [split, entry["count"], len(entry["files"]), len(entry["skipped"])]
            for split, entry in self.load().manifest["splits"].items()
        ]
        return table(["split", "examples", "files", "skipped"], rows)
