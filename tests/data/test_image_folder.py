"""Image folders: layouts, listing rules, reading and the errors users meet."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import fsspec
import pytest

from bit_finetune.data import image_folder as image_folder_module
from bit_finetune.data.image_folder import ImageFolderSource, image_extensions, open_image_folder
from bit_finetune.errors import ConfigError


def open_folder(path: str | Path, extensions=None, labelled: bool = True) -> ImageFolderSource:
    key = "raw_images" if labelled else "prediction_images"
    fs, root = fsspec.core.url_to_fs(str(path))
    return open_image_folder(fs, root, str(path), image_extensions(extensions, key), labelled, key)


def scan(path: str | Path, **kwargs) -> list:
    return list(open_folder(path, **kwargs).scan())


def test_flat_layout_lists_sorted_relative_ids(image_folder):
    root = image_folder(classes=("dog", "cat"), per_class=2)
    items = scan(root)
    assert [i.id for i in items] == ["cat/000.jpg", "cat/001.png", "dog/000.jpg", "dog/001.png"]
    assert [i.label_name for i in items] == ["cat", "cat", "dog", "dog"]
    assert {i.split for i in items} == {None}
    assert items[0].uri == str(root / "cat/000.jpg")


def test_split_layout_maps_folder_aliases(image_folder):
    root = image_folder(splits=("train", "val", "Test"), per_class=1)
    items = scan(root)
    assert {(i.id.split("/")[0], i.split) for i in items} == {
        ("Test", "test"),
        ("train", "train"),
        ("val", "validation"),
    }
    source = open_folder(root)
    assert source.describe()["splits"] == ["test", "train", "validation"]
    assert source.label_names is None


def test_read_returns_file_bytes_in_request_order(image_folder):
    root = image_folder(per_class=2)
    source = open_folder(root)
    uris = [i.uri for i in source.scan()][::-1]
    results = list(source.read(uris))
    assert [r.uri for r in results] == uris
    assert all(r.error is None and r.data == Path(r.uri).read_bytes() for r in results)


def test_extensions_case_insensitive_others_ignored_and_counted(image_folder, caplog):
    root = image_folder(per_class=1, formats=("png",))
    (root / "cat/001.JPG").write_bytes((root / "cat/000.png").read_bytes())
    (root / "cat/notes.txt").write_text("x")
    (root / "dog/README").write_text("x")
    with caplog.at_level(logging.INFO):
        items = scan(root)
    assert [i.id for i in items] == ["cat/000.png", "cat/001.JPG", "dog/000.png"]
    assert "ignored 2 non-image file(s)" in caplog.text
    assert [i.id for i in scan(root, extensions=[".PNG"])] == ["cat/000.png", "dog/000.png"]


def test_unreadable_files_are_reported_not_raised(image_folder, monkeypatch):
    root = image_folder(per_class=2)
    source = open_folder(root)
    uris = [i.uri for i in source.scan()]
    Path(uris[0]).unlink()
    Path(uris[1]).write_bytes(b"")
    original = image_folder_module.read_local

    def read_local(path):  # tests run as root: chmod would not deny the read
        if path == uris[2]:
            raise PermissionError(13, "Permission denied", path)
        return original(path)

    monkeypatch.setattr(image_folder_module, "read_local", read_local)
    vanished, empty, denied, fine = source.read(uris)
    assert vanished.data is None and "FileNotFoundError" in vanished.error
    assert (empty.data, empty.error) == (b"", None)
    assert denied.data is None and "PermissionError" in denied.error
    assert fine.error is None and fine.data


def test_memory_filesystem(image_folder):
    local = image_folder(splits=("train", "test"), per_class=1)
    url = f"memory://images-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.pipe(f"{url}/{file.relative_to(local).as_posix()}", file.read_bytes())
    try:
        source = open_folder(url)
        items = list(source.scan())
        assert [i.id for i in items] == [
            "test/cat/000.jpg",
            "test/dog/000.png",
            "train/cat/000.jpg",
            "train/dog/000.png",
        ]
        assert all(i.uri.startswith("memory://") for i in items)
        results = list(source.read([i.uri for i in items]))
        assert [r.data for r in results] == [(local / i.id).read_bytes() for i in items]
    finally:
        fs.rm(url, recursive=True)


def test_one_class_folder_loads(image_folder):
    # min_classes is enforced by ingestion, which names the parameter.
    assert {i.label_name for i in scan(image_folder(classes=("cat",)))} == {"cat"}


def load_error(path: str | Path) -> str:
    with pytest.raises(ConfigError) as caught:
        open_folder(path)
    message = str(caught.value)
    assert message.startswith("raw_images.path: ") and str(path) in message
    return message


def test_missing_folder(tmp_path: Path):
    assert "does not exist; point it at a folder" in load_error(tmp_path / "nowhere")


def test_file_instead_of_folder(tmp_path: Path):
    (tmp_path / "a.zip").write_bytes(b"x")
    assert "is a file, not a folder" in load_error(tmp_path / "a.zip")


def test_empty_folder_and_folder_without_images(tmp_path: Path):
    assert "has no images" in load_error(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat/a.txt").write_text("x")
    message = load_error(tmp_path)
    assert "has no images" in message and "only 1 other files" in message
    assert "raw_images.extensions" in message


def test_mixed_layouts(image_folder):
    root = image_folder(per_class=1)
    image_folder(root, splits=("train",), per_class=1)
    message = load_error(root)
    assert "mixes split folders (train) with class folders (cat, dog)" in message


def test_images_directly_in_root(image_folder):
    root = image_folder(per_class=1)
    (root / "stray.jpg").write_bytes((root / "cat/000.jpg").read_bytes())
    assert "holds images directly (e.g. 'stray.jpg')" in load_error(root)


def test_images_at_wrong_depth(image_folder):
    root = image_folder(per_class=1)
    image_folder(root / "cat" / "nested", per_class=1)
    assert "unexpected depth" in load_error(root)
    split_root = image_folder(root.parent / "split", splits=("train",), per_class=1)
    (split_root / "train/stray.png").write_bytes(b"x")
    assert "'train/stray.png'" in load_error(split_root)


def test_bad_extensions(tmp_path: Path):
    with pytest.raises(ConfigError, match="raw_images.extensions"):
        open_folder(tmp_path, extensions=[])


def test_unlabelled_folder_lists_every_image_without_labels(predict_folder):
    root, expected = predict_folder
    source = open_folder(root, labelled=False)
    items = list(source.scan())
    assert sorted(i.id for i in items) == sorted(expected)
    assert {(i.label_name, i.split) for i in items} == {("", None)}
    assert source.describe()["classes"] == 0
