"""An image folder full of hostile files, on top of the broken-image corpus.

``write_hostile_folder(root)`` lays out ``root/<label>/<file>`` with four classes: ``corpus``
holds every case of ``bad_images.write_corpus`` plus the file-system and format hazards
below; ``dog s`` and ``ünï code`` (label folders with a space and with non-ASCII letters)
hold good images only; ``linked cats`` is a symbolic link to a folder of good images
outside ``root``, which holds links back to itself and to ``root`` (loops). It returns a
:class:`HostileFolder` saying, for every image id a run must list, whether it is a good
image (kept all the way into the shards) or a bad one (reported with a reason), and which
hidden files must not be listed at all.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bad_images import write_corpus
from PIL import Image

EXTENSIONS = ("bmp", "gif", "jpeg", "jpg", "png", "tif", "webp")
"""``raw_images.extensions`` for the folder: the defaults plus TIFF."""
FRAMES = 3000
HUGE_BYTES = (1 << 30) + 1
"""A sparse file just over the 1 GiB read limit of an image folder."""
LINKED_CLASS = "linked cats"
"""The label folder that is a symbolic link to a folder outside the root."""


@dataclass(frozen=True)
class HostileFolder:
    root: Path
    expected: dict[str, bool]
    """Image id -> True for a good image, False for one that must be reported."""
    hidden: tuple[str, ...]
    """Ids of hidden files, which are skipped and never listed."""

    @property
    def good(self) -> set[str]:
        return {id_ for id_, good in self.expected.items() if good}

    @property
    def bad(self) -> set[str]:
        return {id_ for id_, good in self.expected.items() if not good}


def many_frame_gif(frames: int = FRAMES) -> bytes:
    """An 8x8 two-colour GIF of ``frames`` one-pixel frames (each at its own position)."""
    screen = struct.pack("<HHBBB", 8, 8, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    blocks = []
    for i in range(frames):
        descriptor = b"\x2c" + struct.pack("<HHHHB", i % 8, i // 8 % 8, 1, 1, 0)
        # LZW, 2-bit minimum code size: clear (4), the pixel, end (5), packed LSB first.
        pixels = b"\x02\x02" + bytes([0x44 | (i % 2) << 3, 0x01]) + b"\x00"
        blocks.append(descriptor + pixels)
    return b"GIF89a" + screen + b"".join(blocks) + b"\x3b"


def many_page_tiff(pages: int = FRAMES, loop: bool = False) -> bytes:
    """A 4x4 8-bit grey TIFF of ``pages`` pages sharing one strip; with ``loop`` the last
    page links back to the first, an endless page chain."""
    entries = [(256, 3, 4), (257, 3, 4), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8),
               (277, 3, 1), (278, 3, 4), (279, 4, 16)]  # tag, type, value; strip at byte 8
    size, first = 2 + 12 * len(entries) + 4, 8 + 16
    ifds = []
    for page in range(pages):
        last = page == pages - 1
        following = (first if loop else 0) if last else first + (page + 1) * size
        fields = b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries)
        ifds.append(struct.pack("<H", len(entries)) + fields + struct.pack("<I", following))
    return b"II*\x00" + struct.pack("<I", first) + bytes(range(0, 256, 16)) + b"".join(ifds)


def good_jpeg(seed: int, size: tuple[int, int] = (24, 20)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def write_hostile_folder(root: Path, per_class: int = 6) -> HostileFolder:
    """Write the folder (see the module docstring); ``per_class`` good images in each of
    the two plain classes."""
    corpus = root / "corpus"
    expected = {f"corpus/{name}": good for name, good in write_corpus(corpus).items()}

    def add(name: str, data: bytes, good: bool) -> None:
        (corpus / name).write_bytes(data)
        expected[f"corpus/{name}"] = good

    add(f"{FRAMES}_frames.gif", many_frame_gif(), True)
    add(f"{FRAMES}_pages.tif", many_page_tiff(), True)
    add("endless_pages.tif", many_page_tiff(2, loop=True), True)
    add("zip_named.png", b"PK\x03\x04" + bytes(200), False)
    add("l" * 200 + ".jpg", good_jpeg(1), True)
    add("é" * 120 + ".jpg", good_jpeg(2), True)  # 240 bytes of UTF-8: near the name limit
    with open(os.fsencode(corpus) + b"/latin1_caf\xe9.jpg", "wb") as f:  # not UTF-8
        f.write(good_jpeg(3))
    expected["corpus/latin1_caf\\xe9.jpg"] = True

    links = {
        "link_to_good.jpg": (corpus / "good.jpg", False),  # a second path to good.jpg
        "dangling.jpg": (corpus / "deleted.jpg", False),
        "loop_a.jpg": (Path("loop_b.jpg"), False),
        "loop_b.jpg": (Path("loop_a.jpg"), False),
        "folder_link.jpg": (root, False),
        "endless_device.jpg": (Path("/dev/zero"), False),
    }
    for name, (target, good) in links.items():
        (corpus / name).symlink_to(target)
        expected[f"corpus/{name}"] = good
    os.link(corpus / "good.jpg", corpus / "hard_link.jpg")
    expected["corpus/hard_link.jpg"] = False
    os.mkfifo(corpus / "fifo.jpg")
    expected["corpus/fifo.jpg"] = False
    with open(corpus / "huge.jpg", "wb") as f:
        f.truncate(HUGE_BYTES)
    expected["corpus/huge.jpg"] = False

    (corpus / ".hidden.jpg").write_bytes(good_jpeg(4))
    (corpus / "._good.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # macOS AppleDouble
    for n, label in enumerate(("dog s", "ünï code")):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            (root / label / f"{i}.jpg").write_bytes(good_jpeg(100 * n + i))
            expected[f"{label}/{i}.jpg"] = True
    cats = root.parent / f"{root.name}-elsewhere" / "cats"
    cats.mkdir(parents=True)
    for i in range(per_class):
        (cats / f"{i}.jpg").write_bytes(good_jpeg(300 + i))
        expected[f"{LINKED_CLASS}/{i}.jpg"] = True
    (cats / "again").symlink_to(cats)
    (cats / "up").symlink_to(root)
    (root / LINKED_CLASS).symlink_to(cats, target_is_directory=True)
    return HostileFolder(root, expected, ("corpus/.hidden.jpg", "corpus/._good.jpg"))
