"""A folder of labelled images, on local disk or any fsspec filesystem.

Two layouts are understood, chosen from the folder's top level:

- ``root/<label>/<image>``: no splits; ingestion makes them.
- ``root/<split>/<label>/<image>`` with split folders ``train``, ``validation`` (or
  ``val``/``valid``) and ``test``.

With ``labelled: false`` (the ``prediction_images`` entry) any layout is accepted: every
image under the folder, at any depth, is listed without a label or split.

Hidden files and folders are skipped; files with other extensions are ignored; both are
counted in the log. File names that are not valid UTF-8 are listed with their odd bytes
escaped (``\\xff``), so every artefact can store them. On local disk only regular files
up to :data:`MAX_FILE_BYTES` are read: a FIFO, a device or a directory named like an
image is reported as unreadable instead of blocking the run or filling the memory.

Symbolic links to folders are followed on local disk (a class folder may be a link), and
every real folder is listed once (:mod:`bit_finetune.data.walk`): a link back to a folder it is in (a loop) or to a folder
already listed is not followed, and is named with its reason in a warning (a link named
like an image is also listed, and read as the directory it is). One real file reached by
several paths under one label (a symlink or hard link beside its target) is listed at
each path, but only the first is read: the others read as an error naming it, so
profiling reports them and no image counts twice or lands in two splits. The first is
the one reached without a link, else the first by name. A file under several labels is
read under each, with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from bit_finetune.data.source import ImageSource, ReadResult, SourceItem
from bit_finetune.data.splits import SPLIT_NAMES
from bit_finetune.data.walk import Found, walk
from bit_finetune.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_EXTENSIONS = ("bmp", "gif", "jpeg", "jpg", "png", "webp")
FLAT, SPLIT = "root/<label>/<image>", "root/<split>/<label>/<image>"
ANY_DEPTH = "root/**/<image> (unlabelled)"
UNLABELLED = ""
"""The ``label_name`` of every image of an unlabelled folder."""
MAX_FILE_BYTES = 1 << 30
"""Local files larger than this (1 GiB) are reported as unreadable, never read."""
LAYOUT_FIX = f"lay the images out as {FLAT} or {SPLIT} (split: train, validation, test)"


@dataclass(frozen=True)
class _Image:
    relative: str
    label_name: str
    split: str | None
    same_as: str | None = None
    """The path of the same real file listed first under this label, for a repeat."""


class ImageFolderSource(ImageSource):
    """The images found under one folder, listed once by :func:`open_image_folder`."""

    def __init__(
        self, fs: fsspec.AbstractFileSystem, root: str, path: str, images: list[_Image],
        layout: str,
    ) -> None:
        self._fs = fs
        self._root = root.rstrip("/")
        self._path = path
        self._images = images
        self._layout = layout
        self._local = isinstance(fs, LocalFileSystem)
        # Escaped uris of files whose names are not valid UTF-8 -> their real paths.
        self._escaped = {
            printable(uri): uri for uri in map(self._uri, (i.relative for i in images))
            if printable(uri) != uri
        }
        # Uris of repeated files -> the id of the path read instead.
        self._repeats = {
            printable(self._uri(i.relative)): printable(i.same_as) for i in images if i.same_as
        }

    def _uri(self, relative: str) -> str:
        full = f"{self._root}/{relative}"
        return full if self._local else self._fs.unstrip_protocol(full)

    def scan(self) -> Iterator[SourceItem]:
        for image in self._images:
            yield SourceItem(printable(image.relative), printable(self._uri(image.relative)),
                             printable(image.label_name), image.split)

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        for uri in uris:
            path = self._escaped.get(uri, uri)
            if uri in self._repeats:
                yield ReadResult(uri, None, f"duplicate path: the same file as "
                                 f"'{self._repeats[uri]}' under this label, read there only")
                continue
            try:
                if self._local:
                    check_regular_file(path)
                    data = read_local(path)
                else:
                    data = self._fs.cat_file(path)
            except Exception as exc:  # noqa: BLE001 (any failure is reported)
                yield ReadResult(uri, None, f"{type(exc).__name__}: {exc}")
            else:
                yield ReadResult(uri, bytes(data))

    def describe(self) -> dict[str, Any]:
        return {
            "type": "image_folder",
            "path": self._path,
            "layout": self._layout,
            "images": len(self._images),
            "classes": len({image.label_name for image in self._images} - {UNLABELLED}),
            "splits": sorted({image.split for image in self._images if image.split}),
        }


def open_image_folder(
    fs: fsspec.AbstractFileSystem, root: str, path: str, extensions: tuple[str, ...],
    labelled: bool, key: str,
) -> ImageFolderSource:
    """The images under ``root`` of ``fs`` (``path`` as the user wrote it), listed once;
    ``key`` is the catalog entry named in errors and logs. Raises :class:`ConfigError`
    for a missing folder, no images or a layout that is not understood."""
    if not fs.isdir(root):
        problem = "is a file, not a folder" if fs.exists(root) else "does not exist"
        layout = f" laid out as {FLAT} or {SPLIT}" if labelled else ""
        raise ConfigError(f"{key}.path: '{path}' {problem}; point it at a folder of "
                          f"images{layout}")
    listing = walk(fs, root.rstrip("/"))
    found = {f.relative: f for f in listing.files}
    relatives = sorted(found)
    images = [r for r in relatives if _suffix(r) in extensions]
    ignored = Counter(_suffix(r) for r in relatives if _suffix(r) not in extensions)
    if ignored:
        kinds = ", ".join(f"{n} .{s}" if s else f"{n} without extension"
                          for s, n in sorted(ignored.items()))
        logger.info("%s: ignored %d non-image file(s) in '%s' (%s)", key,
                    sum(ignored.values()), path, kinds)
    if listing.hidden:
        logger.info("%s: skipped %d hidden file(s) or folder(s) in '%s' (names starting "
                    "with '.')", key, listing.hidden, path)
    if listing.skipped:
        shown = "; ".join(f"'{printable(r)}': {printable(why)}"
                          for r, why in listing.skipped[:10])
        more = f"; and {len(listing.skipped) - 10} more" if len(listing.skipped) > 10 else ""
        logger.warning("%s: left out %d folder(s) in '%s': %s%s", key,
                       len(listing.skipped), path, shown, more)
    if not images:
        others = f" (only {sum(ignored.values())} other files)" if ignored else ""
        fix = LAYOUT_FIX if labelled else "add images"
        raise ConfigError(
            f"{key}.path: folder '{path}' has no images with extensions "
            f"{', '.join(extensions)}{others}; {fix}, or set {key}.extensions"
        )
    if labelled:
        listed, layout = _classify(images, path)
    else:
        listed, layout = [_Image(r, UNLABELLED, None) for r in images], ANY_DEPTH
    return ImageFolderSource(fs, root, path, _mark_repeats(listed, found, path, key), layout)


def _mark_repeats(
    images: list[_Image], found: dict[str, Found], path: str, key: str
) -> list[_Image]:
    """``images`` with ``same_as`` set on every later path to a file already listed
    under the same label (see the module docstring)."""
    first: dict[tuple[str, tuple[int, int]], str] = {}
    for image in sorted(images, key=lambda i: (found[i.relative].linked, i.relative)):
        identity = found[image.relative].identity
        if identity is not None:
            first.setdefault((image.label_name, identity), image.relative)
    marked = []
    for image in images:
        identity = found[image.relative].identity
        same = first.get((image.label_name, identity)) if identity else None
        marked.append(replace(image, same_as=same) if same not in (None, image.relative)
                      else image)
    repeats = sum(1 for image in marked if image.same_as)
    if repeats:
        logger.warning("%s: %d path(s) in '%s' lead to a file already listed under the "
                       "same label (links or hard links); each is read once and the "
                       "others are reported as duplicate paths", key, repeats, path)
    labels = Counter(identity for _, identity in first)
    shared = sum(1 for count in labels.values() if count > 1)
    if shared:
        logger.warning("%s: %d file(s) in '%s' are listed under more than one label "
                       "(through links or hard links)", key, shared, path)
    return marked


def _classify(relatives: list[str], path: str) -> tuple[list[_Image], str]:
    """Work out the layout from the top-level folders and label every image."""
    parts = [r.split("/") for r in relatives]
    loose = [r for r, p in zip(relatives, parts) if len(p) == 1]
    if loose:
        raise ConfigError(
            f"raw_images.path: '{path}' holds images directly (e.g. '{loose[0]}'); move them "
            f"into one folder per class: {FLAT}"
        )
    tops = {p[0] for p in parts}
    split_tops = {t for t in tops if t.lower() in SPLIT_NAMES}
    if split_tops and split_tops != tops:
        raise ConfigError(
            f"raw_images.path: '{path}' mixes split folders ({', '.join(sorted(split_tops))}) "
            f"with class folders ({', '.join(sorted(tops - split_tops))}); use either {FLAT} "
            f"or {SPLIT}, not both"
        )
    layout, depth = (SPLIT, 3) if split_tops else (FLAT, 2)
    misplaced = [r for r, p in zip(relatives, parts) if len(p) != depth]
    if misplaced:
        raise ConfigError(
            f"raw_images.path: '{path}' has images at an unexpected depth for the layout "
            f"{layout} (e.g. '{misplaced[0]}'); move them so every image sits at {layout}"
        )
    images = [
        _Image(r, p[-2], SPLIT_NAMES[p[0].lower()] if depth == 3 else None)
        for r, p in zip(relatives, parts)
    ]
    return images, layout


def printable(name: str) -> str:
    """``name`` with the bytes of a non-UTF-8 file name (decoded by Python as lone
    surrogates) escaped as ``\\xNN``: valid UTF-8 text, which Parquet and JSON can store."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_local(path: str) -> bytes:
    """A local file's bytes: the same as fsspec's ``cat_file``, without its per-call cost
    (opening through fsspec's file objects costs 2-4x a plain read of a small image)."""
    with open(path, "rb") as file:
        return file.read()


def check_regular_file(path: str) -> None:
    """Raise unless ``path`` (after symlinks) is a regular file of at most
    :data:`MAX_FILE_BYTES`: reading a FIFO would block forever, a device never end."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "special file")
        raise OSError(f"not a regular file but a {kind}: {path}")
    if info.st_size > MAX_FILE_BYTES:
        raise OSError(
            f"file too large ({info.st_size:,} bytes > the {MAX_FILE_BYTES:,} byte limit): {path}"
        )


_FILE_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def _suffix(relative: str) -> str:
    name = relative.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def image_extensions(extensions: Iterable[str] | None, key: str) -> tuple[str, ...]:
    if extensions is None:
        return DEFAULT_EXTENSIONS
    if isinstance(extensions, str):
        extensions = [extensions]
    cleaned = tuple(sorted({str(e).strip().lstrip(".").lower() for e in extensions} - {""}))
    if not cleaned:
        raise ConfigError(
            f"{key}.extensions: no extensions given; list some (e.g. [jpg, png]) or "
            "remove the key to read " + ", ".join(DEFAULT_EXTENSIONS)
        )
    return cleaned
