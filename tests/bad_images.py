"""A corpus of broken and unusual image files, and a file-backed image source to read it.

``write_corpus(folder)`` writes every case into ``folder`` and returns ``{file name:
expected_good}``: True for files any pipeline must keep (odd but valid images), False for
files that must be reported and rejected. ``HEADER_ONLY_PASSES`` names the bad files whose
header is intact, so only a full decode (``verify_decode: true``) catches them.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from bit_finetune.data.source import ImageSource, ReadResult, SourceItem

HEADER_ONLY_PASSES = frozenset({"truncated.jpg", "truncated.png"})
"""Bad files that a header-only probe cannot tell from good ones."""


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _noise(width: int, height: int, seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` grey pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(_noise(32, 24, 7), "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [Image.new("P", (20, 10), colour) for colour in (1, 2)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


def _corpus() -> dict[str, tuple[bytes, bool]]:
    jpeg = _encode(_noise(64, 48, 1), "JPEG", quality=90)
    png = _encode(_noise(64, 48, 2), "PNG")
    grey16 = np.arange(24 * 16, dtype=np.uint16).reshape(16, 24) * 150
    return {
        "empty.jpg": (b"", False),
        "truncated.jpg": (jpeg[: len(jpeg) * 6 // 10], False),
        "truncated.png": (png[: len(png) * 6 // 10], False),
        "text.jpg": (b"this is a note, not a photo\n" * 4, False),
        "bomb.png": (png_with_declared_size(100_000, 100_000), False),
        "png_named.jpg": (png, True),
        "good.jpg": (jpeg, True),
        "grayscale.png": (_encode(_noise(24, 16, 3).convert("L"), "PNG"), True),
        "rgba.png": (_encode(_noise(24, 16, 4).convert("RGBA"), "PNG"), True),
        "cmyk.jpg": (_encode(_noise(24, 16, 5).convert("CMYK"), "JPEG"), True),
        "palette.png": (_encode(_noise(24, 16, 6).convert("P"), "PNG"), True),
        "grey16.png": (_encode(Image.fromarray(grey16), "PNG"), True),
        "rotated.jpg": (_exif_rotated_jpeg(), True),
        "animated.gif": (_animated_gif(), True),
        "image.webp": (_encode(_noise(24, 16, 8), "WEBP"), True),
        "image.bmp": (_encode(_noise(24, 16, 9), "BMP"), True),
        "unreadable.jpg": (_encode(_noise(24, 16, 10), "JPEG"), True),
    }


def write_corpus(folder: Path) -> dict[str, bool]:
    """Write every case into ``folder``; return ``{file name: expected_good}``.

    ``unreadable.jpg`` is a good JPEG with its permissions removed. A process that can
    still read it (root ignores file permissions) sees a good image; any other sees a
    read error.
    """
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, good) in _corpus().items():
        path = folder / name
        path.write_bytes(data)
        expected[name] = good
    unreadable = folder / "unreadable.jpg"
    unreadable.chmod(0)
    expected["unreadable.jpg"] = os.access(unreadable, os.R_OK)
    return expected


class FileSource(ImageSource):
    """The files of one flat folder, as one class (``corpus``) in the train split."""

    def __init__(self, folder: Path):
        self.folder = folder

    def scan(self) -> Iterator[SourceItem]:
        for path in sorted(self.folder.iterdir()):
            yield SourceItem(path.name, str(path), "corpus", "train")

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        for uri in uris:
            try:
                yield ReadResult(uri, Path(uri).read_bytes())
            except OSError as exc:
                yield ReadResult(uri, None, f"{type(exc).__name__}: {exc.strerror}")

    def describe(self) -> dict[str, Any]:
        return {"type": "FileSource", "folder": str(self.folder)}


def index_of(source: ImageSource) -> pd.DataFrame:
    """An ``image_index`` table listing everything ``source`` scans."""
    items = list(source.scan())
    names = sorted({item.label_name for item in items})
    return pd.DataFrame(
        {
            "id": [item.id for item in items],
            "uri": [item.uri for item in items],
            "label": pd.array([names.index(item.label_name) for item in items], "int64"),
            "label_name": [item.label_name for item in items],
            "split": [item.split or "train" for item in items],
        }
    )
