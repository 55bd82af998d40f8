"""Decode any image to upright 8-bit RGB, resize it once and re-encode it.

This is the pixel work of the preprocessing stage. It needs only Pillow and NumPy (no
TensorFlow), so process-pool workers start in well under a second.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from bit_finetune.data.source import ReadResult
from bit_finetune.imaging.probe import EXIF_ORIENTATION, MAX_PIXELS
from bit_finetune.imaging.workers import exit_with

Encoding = Literal["jpeg", "png", "raw"]
"""How a square is stored: JPEG, PNG, or raw uint8 RGB pixels in row-major order."""

WHITE = (255, 255, 255, 255)
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_HIGH_BIT_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}
_CHUNK = 8
_MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class EncodedImage:
    """A re-encoded square image and the size of the upright original it came from."""

    data: bytes
    format: Encoding
    width: int
    height: int


def encode(
    data: bytes, *, size: int, encoding: Encoding = "jpeg", quality: int = 95
) -> EncodedImage:
    """Decode ``data``, turn it upright RGB, resize to ``size`` x ``size`` and encode it.

    The aspect ratio is not kept (the BiT HyperRule resizes to a square). Resizing is
    bilinear with Pillow's antialiasing; large JPEGs are first reduced by the decoder
    (DCT scaling by 1/2, 1/4 or 1/8) to no less than ``size`` on either side, which is
    much faster and keeps the detail the final resize needs. Raises on any image that
    cannot be fully decoded (e.g. truncated data).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise Image.DecompressionBombError(
                    f"{image.width}x{image.height} is over the {MAX_PIXELS:,} pixel limit"
                )
            width, height = image.size
            if image.getexif().get(EXIF_ORIENTATION) in _TRANSPOSED_ORIENTATIONS:
                width, height = height, width
            image.draft(None, (size, size))
            rgb = to_rgb(ImageOps.exif_transpose(image))
    square = rgb.resize((size, size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    if encoding == "raw":
        return EncodedImage(square.tobytes(), encoding, width, height)
    if encoding == "jpeg":
        square.save(out, format="JPEG", quality=quality)
    elif encoding == "png":
        square.save(out, format="PNG")
    else:
        raise ValueError(f"preprocessing.encoding: {encoding!r} is not jpeg, png or raw")
    return EncodedImage(out.getvalue(), encoding, width, height)


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB pixels of ``image`` whatever its mode.

    Transparency (alpha channels, palette or grey transparency) is composited onto
    white. 16-bit and 32-bit grey images are scaled down from the 16-bit range when
    any value exceeds 255, else taken as they are. CMYK, grey, bilevel and YCbCr go
    through Pillow's own conversion.
    """
    if image.mode == "RGB":
        return image
    if image.mode in _HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        if values.size and values.max() > 255:
            values = values / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        background = Image.new("RGBA", image.size, WHITE)
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def encode_reads(
    reads: Iterable[ReadResult],
    *,
    size: int,
    encoding: Encoding = "jpeg",
    quality: int = 95,
    workers: int = 1,
) -> Iterator[tuple[str, EncodedImage | str]]:
    """Encode a stream of read results, yielding ``(uri, image or error)`` in input order.

    A read that failed, or bytes that do not decode, give an error string instead of an
    image; nothing is raised for bad data. With ``workers > 1`` the pixel work runs in a
    process pool (see :func:`_pool_context`). The reading stays in the calling process
    and at most ``4 * workers`` small chunks are in flight, so memory stays flat however
    large the stream.
    """
    task = functools.partial(_encode_chunk, size=size, encoding=encoding, quality=quality)
    chunks = _chunked(reads, _CHUNK)
    if workers <= 1:
        for chunk in chunks:
            yield from task(chunk)
        return
    # concurrent.futures, not multiprocessing.Pool: a Pool's worker-handler thread wakes
    # whenever results wait in its pipe, and with image-sized results it spins, taking a
    # core from the workers (measured: 1-6 ms of CPU per image in this process, against
    # 0.15 ms here).
    pool = ProcessPoolExecutor(
        workers, mp_context=_pool_context(), initializer=exit_with, initargs=(os.getpid(),)
    )
    try:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(task, chunk))
            if len(pending) >= 4 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers that start clean, never forked from a process running TensorFlow threads.

    Where available they fork from a server process that has imported only this module
    and the main script (fast: the server starts once, later pools in milliseconds);
    elsewhere they are spawned. Either way the calling script's top level is imported
    in the workers, so scripts keep heavy imports inside their ``__main__`` block.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["__main__", __name__])
        return context
    return multiprocessing.get_context("spawn")


def _encode_chunk(
    chunk: list[ReadResult], *, size: int, encoding: Encoding, quality: int
) -> list[tuple[str, EncodedImage | str]]:
    return [(read.uri, _encode_read(read, size, encoding, quality)) for read in chunk]


def _encode_read(
    read: ReadResult, size: int, encoding: Encoding, quality: int
) -> EncodedImage | str:
    if read.data is None:
        return f"unreadable: {read.error or 'no data'}"
    try:
        return encode(read.data, size=size, encoding=encoding, quality=quality)
    except Exception as exc:  # noqa: BLE001 - a bad image is reported, never fatal
        text = f"{type(exc).__name__}: {exc}"
        return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _chunked(items: Iterable[ReadResult], n: int) -> Iterator[list[ReadResult]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, n)):
        yield chunk
