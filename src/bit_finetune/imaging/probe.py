"""Probe encoded images: size, mode, format, channels and EXIF orientation.

By default only the header is read (Pillow's ``Image.open`` is lazy), which is fast but
cannot see data truncated after the header. ``verify=True`` also decodes the pixels (the
first frame of animations) to prove the image is readable. Pillow's
``ImageFile.LOAD_TRUNCATED_IMAGES`` is left False on purpose: with it set, truncated
files would decode silently into grey padding and pass verification.
"""

from __future__ import annotations

import functools
import hashlib
import io
import multiprocessing
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from bit_finetune.data.source import ReadResult
from bit_finetune.imaging.workers import exit_with

MAX_PIXELS = 100_000_000
"""Images with more pixels than this (100 megapixels) are refused as decompression bombs."""

EXIF_ORIENTATION = 0x0112
_MAX_ERROR_CHARS = 160


@dataclass(frozen=True)
class ImageProbe:
    """What one encoded image turned out to be.

    ``width``/``height`` are the stored size, before any EXIF rotation; ``orientation``
    is the EXIF orientation tag (1 when absent). When ``decodable`` is False, ``error``
    says why and the other fields hold whatever the header revealed.
    """

    width: int | None
    height: int | None
    channels: int | None
    mode: str | None
    format: str | None
    bytes: int
    decodable: bool
    error: str | None
    sha1: str | None
    orientation: int = 1


def probe(data: bytes, *, verify: bool = False) -> ImageProbe:
    """Describe the image encoded in ``data``; never raises.

    Args:
        data: the file's bytes.
        verify: also decode the pixels (first frame only) to prove they are readable.
    """
    digest = hashlib.sha1(data).hexdigest()
    if not data:
        return ImageProbe(None, None, None, None, None, 0, False, "empty file", digest)
    header: dict = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                header = {
                    "width": image.width,
                    "height": image.height,
                    "channels": len(image.getbands()),
                    "mode": image.mode,
                    "format": image.format,
                }
                header["orientation"] = _orientation(image)
                if image.width * image.height > MAX_PIXELS:
                    raise Image.DecompressionBombError("over the pixel limit")
                if verify:
                    image.load()
    except Exception as exc:  # noqa: BLE001 - every failure is a finding, not a crash
        return ImageProbe(
            header.get("width"),
            header.get("height"),
            header.get("channels"),
            header.get("mode"),
            header.get("format"),
            len(data),
            False,
            _reason(exc, header),
            digest,
            header.get("orientation", 1),
        )
    return ImageProbe(**header, bytes=len(data), decodable=True, error=None, sha1=digest)


def probe_reads(
    reads: Iterable[ReadResult], *, verify: bool = False, workers: int = 1, chunksize: int = 32
) -> Iterator[tuple[str, ImageProbe]]:
    """Probe a stream of read results, yielding ``(uri, probe)`` in the input order.

    With ``workers > 1`` the probing runs in a process pool; the reading stays in the
    calling process, which streams the bytes to the workers.
    """
    task = functools.partial(_probe_read, verify=verify)
    if workers <= 1:
        yield from map(task, reads)
        return
    with multiprocessing.Pool(workers, initializer=exit_with, initargs=(os.getpid(),)) as pool:
        yield from pool.imap(task, reads, chunksize=chunksize)


def _probe_read(read: ReadResult, verify: bool) -> tuple[str, ImageProbe]:
    if read.data is None:
        error = _shorten(f"unreadable: {read.error or 'no data'}")
        return read.uri, ImageProbe(None, None, None, None, None, 0, False, error, None)
    return read.uri, probe(read.data, verify=verify)


def _orientation(image: Image.Image) -> int:
    # A PNG's EXIF chunk may follow the pixel data; Pillow would decode the whole image
    # to find it, so PNGs report an orientation only when the header carried one.
    if isinstance(image, PngImagePlugin.PngImageFile) and "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - corrupt EXIF does not make the pixels unreadable
        return 1


def _reason(exc: Exception, header: dict) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        if "width" in header:
            return (
                f"too many pixels ({header['width']}x{header['height']} > "
                f"{MAX_PIXELS:,} pixel limit)"
            )
        return "too many pixels (over the decompression-bomb limit)"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (unrecognised format)"
    return _shorten(f"{type(exc).__name__}: {exc}")


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."
