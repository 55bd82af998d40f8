"""A TensorFlow Datasets dataset as an image source, streamed with image decoding skipped.

The dataset is never held in memory: :meth:`TFDSSource.scan` streams the labels and
:meth:`TFDSSource.read` streams the split again, keeping only the wanted examples' encoded
bytes exactly as TFDS stored them (JPEG or PNG). TensorFlow and TFDS are imported when
the dataset is opened, not with this module (see :mod:`bit_finetune.startup`).
"""

from __future__ import annotations

import difflib
import logging
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from etils import epath

from bit_finetune.data.source import ImageSource, ReadResult, SourceItem
from bit_finetune.data.splits import SPLIT_NAMES, SPLITS
from bit_finetune.errors import ConfigError

if TYPE_CHECKING:
    import tensorflow as tf
    import tensorflow_datasets as tfds

logger = logging.getLogger(__name__)

URI_PREFIX = "tfds:"
SCAN_BATCH = 1024
CATALOG_URL = "https://www.tensorflow.org/datasets/catalog/overview"
# TFDS first tries its prepared copies on Google Cloud Storage, then the dataset's URLs.
TFDS_MIRROR = "https://storage.googleapis.com/tfds-data"
PROBE_SECONDS = 5.0  # per host: offline, a download fails in seconds, not after retries


class TFDSSource(ImageSource):
    """The examples of a prepared TFDS builder, addressed as ``tfds:<name>/<split>/<index>``.

    ``<split>`` is our split name (train/validation/test); ``<index>`` counts examples in
    the deterministic (unshuffled) order TFDS reads that split.
    """

    def __init__(
        self,
        builder: tfds.core.DatasetBuilder,
        splits: Mapping[str, str],
        image_key: str,
        label_key: str,
    ) -> None:
        self._builder = builder
        self._splits = dict(splits)
        self._image_key = image_key
        self._label_key = label_key
        config = getattr(builder, "builder_config", None)
        self._name = f"{builder.name}/{config.name}" if config else builder.name

    @property
    def label_names(self) -> list[str]:
        return list(self._builder.info.features[self._label_key].names)

    def _stream(self, split: str, key: str) -> tf.data.Dataset:
        """One feature of a split, in TFDS' deterministic order, images left encoded."""
        import tensorflow_datasets as tfds

        dataset = self._builder.as_dataset(
            split=self._splits[split],
            shuffle_files=False,
            decoders={self._image_key: tfds.decode.SkipDecoding()},
            read_config=tfds.ReadConfig(try_autocache=False),
        )
        return dataset.map(lambda example: example[key])

    def _uri(self, split: str, index: int) -> str:
        return f"{URI_PREFIX}{self._name}/{split}/{index}"

    def scan(self) -> Iterator[SourceItem]:
        names = self.label_names
        for split in self._splits:
            logger.debug("raw_images: scanning TFDS %s split %s", self._name, split)
            index = 0
            batches = self._stream(split, self._label_key).batch(SCAN_BATCH)
            for labels in batches.as_numpy_iterator():
                for label in labels:
                    uri = self._uri(split, index)
                    yield SourceItem(uri.removeprefix(URI_PREFIX), uri, names[int(label)], split)
                    index += 1

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        prefix = f"{URI_PREFIX}{self._name}/"
        wanted: dict[str, dict[int, list[str]]] = {}
        for uri in uris:
            split, _, index = uri.removeprefix(prefix).partition("/")
            if not uri.startswith(prefix) or split not in self._splits or not index.isdigit():
                expected = f"{prefix}<{'|'.join(self._splits)}>/<index>"
                yield ReadResult(uri, None, f"not an example of this source (expected {expected})")
                continue
            wanted.setdefault(split, {}).setdefault(int(index), []).append(uri)
        for split, by_index in wanted.items():
            yield from self._read_split(split, by_index)

    def _read_split(self, split: str, by_index: dict[int, list[str]]) -> Iterator[ReadResult]:
        import tensorflow as tf

        mask = np.zeros(max(by_index) + 1, dtype=bool)
        mask[list(by_index)] = True
        keep = tf.constant(mask)
        chosen = (
            self._stream(split, self._image_key)
            .take(len(mask))
            .enumerate()
            .filter(lambda index, _: tf.gather(keep, index))
        )
        for index, data in chosen.as_numpy_iterator():
            for uri in by_index.pop(int(index)):
                yield ReadResult(uri, bytes(data))
        for index, missing in by_index.items():
            for uri in missing:
                yield ReadResult(uri, None, f"split {split} has no example {index}")

    def describe(self) -> dict[str, Any]:
        info = self._builder.info
        return {
            "type": "tfds",
            "name": self._name,
            "version": str(info.version),
            "data_dir": str(self._builder.data_path),
            "splits": dict(self._splits),
            "classes": info.features[self._label_key].num_classes,
        }


def open_tfds(
    name: str | None, data_dir: str | None, image_key: str, label_key: str,
    splits: Mapping[str, str] | None, download: bool,
) -> TFDSSource:
    """The source of TFDS dataset ``name`` (see :func:`tfds_builder`), its ``splits`` our
    split -> TFDS split string (by default its own), downloaded and prepared first when
    ``download`` allows. Raises :class:`ConfigError` naming the ``raw_images`` key."""
    builder = tfds_builder(name, data_dir)
    if not builder.is_prepared():
        if not download:
            raise ConfigError(
                f"raw_images: TFDS dataset '{builder.name}' is not prepared in "
                f"'{builder.data_path}'; set raw_images.download: true to download it "
                f"(needs internet), or prepare it elsewhere (tfds build {builder.name} "
                f"--data_dir DIR) and point raw_images.data_dir at DIR"
            )
        offline = unreachable(builder)
        if offline:
            raise ConfigError(
                f"raw_images: TFDS dataset '{builder.name}' is not prepared in "
                f"'{builder.data_path}' and cannot be downloaded ({offline}). Without "
                f"internet, prepare it on a machine with it (tfds build {builder.name} "
                "--data_dir DIR), copy DIR here and point raw_images.data_dir at it; "
                "a dataset whose files must be fetched by hand takes them in "
                f"'{epath.Path(builder.data_path).parent.parent / 'downloads/manual'}'"
            )
        logger.info("raw_images: downloading and preparing TFDS %s into %s",
                    builder.name, builder.data_path)
        builder.download_and_prepare()
    _check_features(builder, image_key, label_key)
    return TFDSSource(builder, _split_map(builder, splits), image_key, label_key)


def tfds_builder(name: str | None, data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The builder of dataset ``name`` under ``data_dir``, or of the prepared dataset
    folder ``data_dir``."""
    import tensorflow_datasets as tfds

    if data_dir and (epath.Path(data_dir) / "dataset_info.json").exists():
        builder = tfds.builder_from_directory(data_dir)
        if name and name.split("/")[0].split(":")[0] != builder.name:
            raise ConfigError(
                f"raw_images.name: '{name}', but data_dir '{data_dir}' holds "
                f"the prepared dataset '{builder.name}'; fix the name or remove it"
            )
        return builder
    if not name:
        raise ConfigError(
            "raw_images.name: no TFDS dataset named; set name (e.g. cats_vs_dogs), or "
            "point data_dir at a prepared dataset folder (one with dataset_info.json)"
        )
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError as exc:
        base = name.split("/")[0].split(":")[0]
        close = difflib.get_close_matches(base, tfds.list_builders(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(
            f"raw_images.name: TFDS has no dataset '{name}'{hint}; use a name from "
            f"{CATALOG_URL}, or point raw_images.data_dir at a prepared dataset folder"
        ) from exc


def _check_features(builder: tfds.core.DatasetBuilder, image_key: str, label_key: str) -> None:
    import tensorflow_datasets as tfds

    features = builder.info.features
    for key, value, kind in (
        ("image_key", image_key, tfds.features.Image),
        ("label_key", label_key, tfds.features.ClassLabel),
    ):
        if value not in features.keys() or not isinstance(features[value], kind):  # noqa: SIM118
            choices = [k for k in features.keys() if isinstance(features[k], kind)]  # noqa: SIM118
            raise ConfigError(
                f"raw_images.{key}: '{value}' is not a {kind.__name__} feature of TFDS "
                f"'{builder.name}' (its {kind.__name__} features: {choices}); set "
                f"raw_images.{key} to one of them"
            )


def _split_map(
    builder: tfds.core.DatasetBuilder, splits: Mapping[str, str] | None
) -> dict[str, str]:
    """Our split name -> TFDS split string, in train/validation/test order."""
    available = list(builder.info.splits)
    if splits is not None:
        mapping = dict(splits)
        unknown = sorted(set(mapping) - set(SPLITS))
        if unknown:
            raise ConfigError(
                f"raw_images.splits.{unknown[0]}: not a split of ours; the keys must be "
                f"train, validation or test, each set to a TFDS split such as 'train[:90%]'"
            )
        for ours, spec in mapping.items() if available else ():
            try:
                builder.info.splits[spec]
            except (KeyError, ValueError, AssertionError) as exc:
                raise ConfigError(
                    f"raw_images.splits.{ours}: '{spec}' is not a split of TFDS "
                    f"'{builder.name}' (it has {available}); {exc}"
                ) from exc
    else:
        mapping = {}
        for split in sorted(available):
            ours = SPLIT_NAMES.get(split.lower())
            if ours and ours not in mapping:
                mapping[ours] = split
        unused = sorted(set(available) - set(mapping.values()))
        if unused:
            logger.info("raw_images: TFDS '%s' splits %s are not read; map them with "
                        "raw_images.splits", builder.name, unused)
    if not mapping:
        raise ConfigError(
            f"raw_images.splits: TFDS '{builder.name}' has no train, validation or test "
            f"split (it lists {available or 'none'}); map them, e.g. "
            f"splits: {{train: 'train[:90%]', test: 'train[90%:]'}}"
        )
    return {ours: mapping[ours] for ours in SPLITS if ours in mapping}


def unreachable(builder: tfds.core.DatasetBuilder) -> str | None:
    """Why no host the dataset downloads from answers (its own URLs and TFDS's mirror),
    or None when one does, or when the builder names no URL to try."""
    urls = list(builder.url_infos or {})
    if not urls:
        return None
    parts = [urlsplit(url) for url in [*urls, TFDS_MIRROR]]
    hosts = sorted(
        {(p.hostname, p.port or (443 if p.scheme == "https" else 80)) for p in parts if p.hostname}
    )
    reasons = []
    for host, port in hosts:
        try:
            socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
        except OSError as exc:
            reasons.append(f"{host}: {exc.strerror or exc}")
        else:
            return None
    return "; ".join(reasons)
