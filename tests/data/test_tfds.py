"""TFDS sources, offline: a tiny dataset prepared in a temporary folder, and mocked TFDS."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from bit_finetune.data import tfds as tfds_source
from bit_finetune.data.source import ImageSource
from bit_finetune.data.tfds import open_tfds
from bit_finetune.errors import ConfigError

TRAIN, TEST = 6, 2


class TinyShapes(tfds.core.GeneratorBasedBuilder):
    """Example i has height 8 + i and label i % 2, so bytes can be matched to labels."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(names=["square", "circle"]),
                    "caption": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(0, TRAIN),
            "test": self._generate_examples(10, TEST),
        }

    def _generate_examples(self, start: int, count: int):
        for i in range(start, start + count):
            yield i, {
                "image": np.full((8 + i, 10, 3), 40 * i % 256, dtype=np.uint8),
                "label": i % 2,
                "caption": f"shape {i}",
            }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfds")
    TinyShapes(data_dir=str(root)).download_and_prepare()
    return root


def load(name: str | None = None, data_dir: str | None = None, image_key: str = "image",
         label_key: str = "label", splits: dict[str, str] | None = None,
         download: bool = False) -> ImageSource:
    return open_tfds(name, data_dir, image_key, label_key, splits, download)


def height(data: bytes) -> int:
    return Image.open(io.BytesIO(data)).size[1]


def test_by_name_lists_splits_and_class_names(data_dir: Path):
    source = load(name="tiny_shapes", data_dir=str(data_dir))
    items = list(source.scan())
    assert source.label_names == ["square", "circle"]
    assert [i.split for i in items] == ["train"] * TRAIN + ["test"] * TEST
    assert [i.id for i in items[:2]] == ["tiny_shapes/train/0", "tiny_shapes/train/1"]
    assert all(i.uri == f"tfds:{i.id}" for i in items)
    train_labels = sorted(i.label_name for i in items if i.split == "train")
    assert train_labels == ["circle"] * 3 + ["square"] * 3
    assert source.describe()["splits"] == {"train": "train", "test": "test"}


def test_read_streams_the_encoded_bytes_of_the_wanted_examples(data_dir: Path):
    source = load(name="tiny_shapes", data_dir=str(data_dir))
    items = list(source.scan())
    wanted = [items[7], items[3], items[0], items[3]]
    results = list(source.read(i.uri for i in wanted))
    assert sorted(r.uri for r in results) == sorted(i.uri for i in wanted)
    label_of = {i.uri: i.label_name for i in items}
    for result in results:
        assert result.error is None and result.data[:2] == b"\xff\xd8"  # stored JPEG
        example = height(result.data) - 8  # the generator's i, for both splits
        assert label_of[result.uri] == ["square", "circle"][example % 2]
        assert (result.uri.split("/")[-2] == "test") == (example >= 10)


def test_read_reports_bad_uris(data_dir: Path):
    source = load(name="tiny_shapes", data_dir=str(data_dir))
    uris = ["tfds:tiny_shapes/train/99", "tfds:tiny_shapes/validation/0", "tfds:other/train/0",
            "tiny_shapes/train/0"]
    results = {r.uri: r for r in source.read(uris)}
    assert set(results) == set(uris)
    assert "split train has no example 99" in results[uris[0]].error
    assert all("not an example of this source" in results[u].error for u in uris[1:])
    assert all(r.data is None for r in results.values())


def test_prepared_directory_and_split_mapping(data_dir: Path):
    directory = data_dir / "tiny_shapes" / "1.0.0"
    splits = {"validation": "train[:50%]", "train": "train[50%:]"}
    by_dir = load(data_dir=str(directory), splits=splits)
    items = list(by_dir.scan())
    assert [i.split for i in items] == ["train"] * 3 + ["validation"] * 3
    (result,) = by_dir.read(["tfds:tiny_shapes/validation/2"])
    by_name = load(name="tiny_shapes", data_dir=str(data_dir))
    (same,) = by_name.read(["tfds:tiny_shapes/train/2"])
    assert result.data == same.data


def config_error(**kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load(**kwargs)
    return str(caught.value)


def test_unprepared_dataset_fails_at_once_without_download(tmp_path: Path):
    message = config_error(name="tiny_shapes", data_dir=str(tmp_path))
    assert "not prepared" in message and "raw_images.download: true" in message
    assert str(tmp_path) in message


def test_unknown_name_suggests_close_matches(tmp_path: Path):
    message = config_error(name="cats_vs_dog", data_dir=str(tmp_path))
    assert message.startswith("raw_images.name: TFDS has no dataset 'cats_vs_dog'")
    assert "did you mean cats_vs_dogs" in message


def test_configuration_errors_name_the_key(data_dir: Path):
    common = {"name": "tiny_shapes", "data_dir": str(data_dir)}
    assert "raw_images.image_key: 'img'" in config_error(**common, image_key="img")
    assert "features: ['label']" in config_error(**common, label_key="caption")
    assert "raw_images.splits.holdout" in config_error(**common, splits={"holdout": "test"})
    assert "raw_images.splits.test: 'extra'" in config_error(**common, splits={"test": "extra"})
    directory = str(data_dir / "tiny_shapes" / "1.0.0")
    message = config_error(name="mnist", data_dir=directory)
    assert "holds the prepared dataset 'tiny_shapes'" in message


def test_mocked_cats_vs_dogs_with_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tfds_source, "unreachable", lambda builder: None)  # "online"
    with tfds.testing.mock_data(num_examples=5):
        source = load(name="cats_vs_dogs", data_dir=str(tmp_path), download=True,
                      splits={"train": "train"})
        items = list(source.scan())
        assert source.label_names == ["cat", "dog"]
        assert [i.id for i in items] == [f"cats_vs_dogs/train/{n}" for n in range(5)]
        assert {i.label_name for i in items} <= {"cat", "dog"}
        results = list(source.read([items[4].uri, items[1].uri]))
    assert [r.uri for r in results] == [items[1].uri, items[4].uri]
    assert all(Image.open(io.BytesIO(r.data)).mode == "RGB" for r in results)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network beyond loopback: names other than localhost do not resolve."""
    resolve = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host not in ("localhost", "127.0.0.1", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


def test_an_unprepared_dataset_fails_in_seconds_offline(tmp_path: Path, offline):
    started = time.monotonic()
    message = config_error(name="cats_vs_dogs", data_dir=str(tmp_path), download=True)
    assert time.monotonic() - started < 10
    assert "cannot be downloaded" in message and "download.microsoft.com" in message
    assert "tfds build cats_vs_dogs --data_dir DIR" in message
    assert "raw_images.data_dir" in message
    assert str(tmp_path / "downloads/manual") in message
    assert not (tmp_path / "downloads").exists()  # nothing was fetched
