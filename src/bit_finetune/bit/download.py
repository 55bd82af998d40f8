"""The local cache of published BiT weight files: downloaded once, verified at every use.

The cache folder is ``cache_dir`` (``training.model.cache_dir``) when set, else the ``BIT_FINETUNE_CACHE``
environment variable, else ``$XDG_CACHE_HOME/bit_finetune/weights`` (``~/.cache/...``).
It mirrors the release: ``BiT-M-R50x1.npz``, ``distill/R50x1_224.npz``. Beside each file,
``<file>.json`` records the URL, size, SHA-256 and time of its download.

A download streams into ``<file>.part``, hashing as it goes; only when the byte count
matches the server's Content-Length is the record written and the part renamed into
place, so an interrupted download never leaves a file that passes for a good one. A
cached file is checked against its record; a damaged one is reported and fetched again.
A file put into the cache by hand (no record) is recorded and used. In a cluster only
the chief downloads; the other workers wait for the chief's recorded file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import fsspec

from bit_finetune.core.files import atomic_write_text, file_sha256
from bit_finetune.core.progress import progress_bar
from bit_finetune.core.published import BASE_URL, published_weights
from bit_finetune.errors import WeightsDownloadError

logger = logging.getLogger(__name__)

ENV = "BIT_FINETUNE_CACHE"
CHUNK = 1 << 20
# Fail fast offline; a stalled transfer fails after a minute instead of hanging.
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
POLL_SECONDS = 1.0


def cache_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where published weights are kept: ``cache_dir``, else ``$BIT_FINETUNE_CACHE``, else
    ``bit_finetune/weights`` in the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    chosen = cache_dir or os.environ.get(ENV)
    if chosen:
        return Path(chosen).expanduser()
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user_cache) / "bit_finetune" / "weights"


def resolve_weights(
    weights: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    download: bool = True,
    wait_seconds: float = 3600.0,
    progress: bool = True,
) -> str:
    """The weights to build the classifier from: a published name (``BiT-M-R50x1``) becomes
    the path of its cached file, anything else is returned unchanged.

    ``download`` False (a cluster's non-chief worker) never downloads: it waits up to
    ``wait_seconds`` for the file another process downloads into the cache.
    """
    published = published_weights(weights)
    if published is None:
        return weights
    path = cache_folder(cache_dir) / published.file
    if download:
        return str(fetch(published.url(base_url or BASE_URL), path, progress=progress))
    return str(wait_for(path, wait_seconds))


def fetch(url: str, path: Path, *, progress: bool = True) -> Path:
    """``path``, checked against its record, after downloading ``url`` into it when it is
    missing or damaged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path):
        if _usable(path):
            logger.info("Using cached weights %s", path)
        else:
            _download(url, path, progress)
    return path


def wait_for(path: Path, timeout: float, poll: float = POLL_SECONDS) -> Path:
    """``path`` once it matches its record, checking each time the file or record changes;
    :class:`WeightsDownloadError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    checked = None
    logger.info("Waiting for the chief to download %s", path)
    while True:
        state = _state(path)
        if state is not None and state != checked:
            if _adopted(path) or _matches_record(path):
                return path
            checked = state
        left = deadline - time.monotonic()
        if left <= 0:
            raise WeightsDownloadError(
                f"waited {timeout:g} s for the chief to download {path}; put the "
                f"weights cache on storage every host reads (cache_dir or {ENV}), "
                "or copy the file there, or wait longer (download_wait)"
            )
        time.sleep(min(poll, left))


def record_path(path: Path) -> Path:
    """The JSON record beside a cached file."""
    return path.with_name(f"{path.name}.json")


def _usable(path: Path) -> bool:
    """Whether the cached file can be used: it matches its record, or it has none (put
    there by hand: then it is recorded). A damaged file is reported and deleted."""
    if not path.exists():
        return False
    if _adopted(path) or _matches_record(path):
        return True
    logger.warning(
        "Cached weights %s do not match their size or SHA-256 in %s (damaged?); "
        "downloading them again",
        path,
        record_path(path).name,
    )
    path.unlink()
    return False


def _adopted(path: Path) -> bool:
    """Whether the file had no record (it was put there by hand) and now has one. A
    download writes the record before renaming its file into place, so a file without a
    record never comes from an unfinished download."""
    if record_path(path).exists():
        return False
    size, digest = path.stat().st_size, file_sha256(path)
    _write_record(path, None, size, digest)
    logger.info("Recorded %s, found in the weights cache (SHA-256 %s)", path, digest)
    return True


def _matches_record(path: Path) -> bool:
    try:
        record = json.loads(record_path(path).read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return False
    return size == record.get("size") and file_sha256(path) == record.get("sha256")


def _download(url: str, path: Path, progress: bool) -> None:
    part = path.with_name(f"{path.name}.part")
    logger.info("Downloading %s to %s", url, path)
    try:
        fs = fsspec.filesystem("http", client_kwargs={"timeout": TIMEOUT})
        try:
            size = fs.info(url)["size"]
            received, digest = _stream(fs, url, part, size, progress)
        except (OSError, aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise _failed(url, path, _reason(e)) from e
        if size is not None and received != size:
            reason = f"the connection closed after {received:,} of {size:,} bytes"
            raise _failed(url, path, reason)
        _write_record(path, url, received, digest)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _stream(fs: fsspec.AbstractFileSystem, url: str, part: Path, size: int | None,
            progress: bool) -> tuple[int, str]:
    """Copy ``url`` into ``part``; the byte count and SHA-256 of what arrived."""
    digest, received = hashlib.sha256(), 0
    bar = progress_bar(total=size, unit="B", unit_scale=True, unit_divisor=1024,
               desc=f"Downloading {part.name.removesuffix('.part')}", disable=not progress)
    with bar, fs.open(url, "rb", block_size=0, size=size) as source, open(part, "wb") as target:
        while chunk := source.read(CHUNK):
            target.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return received, digest.hexdigest()


def _failed(url: str, path: Path, reason: str) -> WeightsDownloadError:
    return WeightsDownloadError(
        f"downloading {url} failed ({reason}). Without network access, put the "
        f"file at {path} (the weights cache; cache_dir or {ENV} move it), "
        "or give the path of a local .npz file instead"
    )


def _reason(error: BaseException) -> str:
    """The HTTP client's error (fsspec reports any failed request as FileNotFoundError)."""
    while isinstance(error, FileNotFoundError) and error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__


def _write_record(path: Path, url: str | None, size: int, digest: str) -> None:
    record = {
        "url": url,
        "size": size,
        "sha256": digest,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(record_path(path), json.dumps(record, indent=2) + "\n")


def _state(path: Path) -> tuple[int, int, int] | None:
    """The file's size and modification time and its record's (0 when missing), or None
    while the file is missing."""
    try:
        file = path.stat()
    except OSError:
        return None
    try:
        recorded = record_path(path).stat().st_mtime_ns
    except OSError:
        recorded = 0
    return file.st_size, file.st_mtime_ns, recorded


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold ``<file>.lock``, so that two runs on one host do not download the same file
    at once (the second then finds it cached)."""
    with open(path.with_name(f"{path.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield
