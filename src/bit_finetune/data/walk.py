"""The files under a folder, for an image folder to list: hidden names skipped, and on
local disk symbolic links to folders followed, each real folder listed once.

A link to a folder it is in (a loop) or to a folder already listed is not followed; it is
left out with its reason, and listed as a file so that one named like an image is
reported when read. Each file carries the real file it is (device, inode), so that one
file reached by several paths can be read once (see
:mod:`bit_finetune.data.image_folder`).
"""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass, field

import fsspec
from fsspec.implementations.local import LocalFileSystem


@dataclass(frozen=True)
class Found:
    """A file under the root: its path from the root, the real file it is (device, inode;
    None when unknown) and whether a symbolic link leads to it."""

    relative: str
    identity: tuple[int, int] | None = None
    linked: bool = False


@dataclass
class Listing:
    """What a walk found: the visible files, how many hidden names it skipped, and the
    folders it left out."""

    files: list[Found]
    hidden: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Folders left out (links not followed, unreadable folders), each with its reason."""


def walk(fs: fsspec.AbstractFileSystem, root: str) -> Listing:
    """Every visible file under the folder ``root`` of ``fs``: on local disk following
    links to folders (each real folder once), elsewhere every file the filesystem finds."""
    if isinstance(fs, LocalFileSystem):
        return _walk_local(root or "/")
    return _walk_fsspec(fs, root)


def _walk_fsspec(fs: fsspec.AbstractFileSystem, root: str) -> Listing:
    """Every visible file under ``root`` of a filesystem without symbolic links."""
    relatives = [
        found[len(root) :].lstrip("/") for found in fs.find(root, withdirs=False, detail=False)
    ]
    visible = [r for r in relatives if not any(p.startswith(".") for p in r.split("/"))]
    return Listing([Found(r) for r in visible], hidden=len(relatives) - len(visible))


def _walk_local(root: str) -> Listing:
    """Every visible file under the local folder ``root``, following links to folders.

    Real folders are walked first and links to folders after them (in name order), so a
    folder under ``root`` is listed at its own path. Each real folder is listed once: a
    link to a folder it is in (a loop), or to a folder already listed, is not followed but
    recorded in ``skipped`` with its reason, and listed as a file so that one named like an
    image is reported when read.
    """
    listing = Listing([])
    top = os.stat(root)
    seen = {(top.st_dev, top.st_ino): ""}
    links: list[tuple[str, str, str]] = []  # heap of (relative, path, parent's real path)
    folders = [(root, "", os.path.realpath(root), top.st_dev, False)]
    while folders or links:
        if not folders:
            relative, path, parent = heapq.heappop(links)
            target = os.path.realpath(path)
            try:
                info = os.stat(target)
            except OSError as exc:
                listing.skipped.append((relative, f"{type(exc).__name__}: {exc.strerror}"))
                continue
            first = seen.setdefault((info.st_dev, info.st_ino), relative)
            if parent == target or parent.startswith(os.path.join(target, "")):
                reason = f"a link to '{target}', a folder it is in (a symlink loop)"
            elif first != relative:
                reason = f"a link to the same folder as '{first}', listed there"
            else:
                folders.append((target, relative, target, info.st_dev, True))
                continue
            listing.skipped.append((relative, reason))
            listing.files.append(Found(relative, linked=True))
            continue
        path, relative, real, device, linked = folders.pop()
        try:
            with os.scandir(path) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            listing.skipped.append((relative or ".", f"{type(exc).__name__}: {exc.strerror}"))
            continue
        for entry in entries:
            child = f"{relative}/{entry.name}" if relative else entry.name
            if entry.name.startswith("."):
                listing.hidden += 1
            elif not _is_folder(entry):
                link = entry.is_symlink()
                listing.files.append(Found(child, _identity(entry, device), linked or link))
            elif entry.is_symlink():
                heapq.heappush(links, (child, entry.path, real))
            else:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    listing.skipped.append((child, f"{type(exc).__name__}: {exc.strerror}"))
                    continue
                first = seen.setdefault((info.st_dev, info.st_ino), child)
                if first != child:  # reached again through a link above it
                    listing.skipped.append((child, f"the same folder as '{first}', listed there"))
                    continue
                folders.append(
                    (entry.path, child, os.path.join(real, entry.name), info.st_dev, linked)
                )
    return listing


def _is_folder(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a folder or a link to one (False for a broken link or a loop)."""
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _identity(entry: os.DirEntry, device: int) -> tuple[int, int] | None:
    """(device, inode) of the real file behind ``entry`` in a folder on ``device``; None
    for a link that leads nowhere (it is reported when read)."""
    if not entry.is_symlink():
        return device, entry.inode()
    try:
        info = entry.stat(follow_symlinks=True)
    except OSError:
        return None
    return info.st_dev, info.st_ino
