"""The folder walk under an image folder: hidden names skipped, links to folders followed
on local disk, loops and repeated folders left out with their reason."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import fsspec

from bit_finetune.catalog import ImageFolderDataset
from bit_finetune.data.walk import Found, walk

LOCAL = fsspec.filesystem("file")


def scan(path: str | Path, **kwargs) -> list:
    return list(ImageFolderDataset(str(path), **kwargs).load().scan())


def files(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())


def test_hidden_files_and_folders_are_skipped(image_folder):
    root = image_folder(per_class=1)
    (root / "cat/.hidden.jpg").write_bytes(b"x")
    (root / ".cache/cat").mkdir(parents=True)
    (root / ".cache/cat/a.jpg").write_bytes(b"x")
    assert [i.id for i in scan(root)] == ["cat/000.jpg", "dog/000.png"]
    listing = walk(LOCAL, str(root))
    assert sorted(f.relative for f in listing.files) == ["cat/000.jpg", "dog/000.png"]
    assert listing.hidden == 2


def test_each_local_file_carries_the_real_file_it_is(tmp_path: Path):
    files(tmp_path, ["a/1.jpg", "b/2.jpg"])
    (tmp_path / "b/link.jpg").symlink_to(tmp_path / "a/1.jpg")
    os.link(tmp_path / "a/1.jpg", tmp_path / "b/hard.jpg")
    found = {f.relative: f for f in walk(LOCAL, str(tmp_path)).files}
    real = os.stat(tmp_path / "a/1.jpg")
    same = (real.st_dev, real.st_ino)
    assert found["a/1.jpg"] == Found("a/1.jpg", same, linked=False)
    assert found["b/hard.jpg"] == Found("b/hard.jpg", same, linked=False)
    assert found["b/link.jpg"] == Found("b/link.jpg", same, linked=True)
    assert found["b/2.jpg"].identity != same


def test_linked_folders_are_followed_once_and_loops_are_left_out(tmp_path: Path):
    root, elsewhere = tmp_path / "images", tmp_path / "elsewhere"
    files(root, ["dog/0.jpg"])
    files(elsewhere, ["cats/0.jpg"])
    (root / "cat").symlink_to(elsewhere / "cats")
    (root / "kitten").symlink_to(root / "cat")  # the same real folder as cat
    (root / "dog/up").symlink_to(root)  # a loop
    listing = walk(LOCAL, str(root))
    found = {f.relative: f.linked for f in listing.files}
    # a link not followed is listed as a file, to be reported when read
    assert found == {"cat/0.jpg": True, "dog/0.jpg": False, "dog/up": True, "kitten": True}
    assert listing.skipped == [
        ("dog/up", f"a link to '{root.resolve()}', a folder it is in (a symlink loop)"),
        ("kitten", "a link to the same folder as 'cat', listed there"),
    ]


def test_a_dangling_link_to_a_folder_is_listed_as_a_file(tmp_path: Path):
    files(tmp_path, ["a/1.jpg"])
    (tmp_path / "a/gone.jpg").symlink_to(tmp_path / "nowhere")
    found = {f.relative: f for f in walk(LOCAL, str(tmp_path)).files}
    assert found["a/gone.jpg"] == Found("a/gone.jpg", None, linked=True)


def test_other_filesystems_list_every_visible_file():
    url = f"memory://walk-{uuid.uuid4().hex}"
    fs, root = fsspec.core.url_to_fs(url)
    for name in ("b/2.jpg", "a/1.jpg", "a/.hidden.jpg", ".cache/x.jpg"):
        fs.pipe(f"{root}/{name}", b"x")
    try:
        listing = walk(fs, root)
        assert sorted(f.relative for f in listing.files) == ["a/1.jpg", "b/2.jpg"]
        assert listing.hidden == 2 and listing.skipped == []
    finally:
        fs.rm(url, recursive=True)
