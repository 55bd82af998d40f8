"""Storage faults without a real full disk or a failing drive: the kernel's file size
limit, writes that fail with ENOSPC, and damaged shard records."""

from __future__ import annotations

import errno
import os
import resource
import signal
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.local import LocalFileOpener


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Within the block, writing any file of this process past ``limit`` bytes fails with
    EFBIG (``File too large``), as the kernel reports it (SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def with_file_size_limit(save: Callable[..., Any], limit: int) -> Callable[..., Any]:
    """``save`` run under :func:`file_size_limit` (for a dataset class's ``save``)."""

    def limited(*args: Any, **kwargs: Any) -> Any:
        with file_size_limit(limit):
            return save(*args, **kwargs)

    return limited


def fail_writes_after(monkeypatch: pytest.MonkeyPatch, limit: int, where: str = "") -> None:
    """From now on every atomically saved file whose path holds ``where`` fails with
    ENOSPC once it holds ``limit`` bytes, as on a full disk (the bytes up to the limit
    do reach the file)."""
    original = LocalFileOpener.write

    def write(self: LocalFileOpener, data: Any, *args: Any, **kwargs: Any) -> Any:
        if where not in str(self.path):
            return original(self, data, *args, **kwargs)
        room = limit - self.f.tell()
        if len(data) > room:
            original(self, bytes(data)[: max(room, 0)])
            self.f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(LocalFileOpener, "write", write)


def record_spans(path: Path) -> list[tuple[int, int]]:
    """(start, end) of each record's data in a TFRecord file."""
    data, spans, position = path.read_bytes(), [], 0
    while position < len(data):
        (length,) = struct.unpack("<Q", data[position : position + 8])
        start = position + 12  # length and its CRC
        spans.append((start, start + length))
        position = start + length + 4  # the data's CRC
    return spans


def damage_record(path: Path, index: int, count: int = 64) -> None:
    """Invert ``count`` bytes in the middle of record ``index`` (the size unchanged), as
    a failing disk or copy leaves it."""
    start, end = record_spans(path)[index]
    count = min(count, end - start)
    middle = (start + end - count) // 2
    data = bytearray(path.read_bytes())
    data[middle : middle + count] = bytes(b ^ 0xFF for b in data[middle : middle + count])
    path.write_bytes(bytes(data))
