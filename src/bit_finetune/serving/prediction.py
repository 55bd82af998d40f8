"""Batch prediction: classify new images with the exported serving model.

Kedro-free. Each image is decoded and resized exactly as the preprocessing stage stores
training images (upright 8-bit RGB, Pillow bilinear resize to the HyperRule resize size);
the serving model then resizes to the crop size, as evaluation does for the test split.
A file that cannot be read or decoded gets a row with an ``error`` and no prediction.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf
from PIL import Image

from bit_finetune.core.progress import progress_bar
from bit_finetune.data.source import ImageSource, ReadResult
from bit_finetune.evaluation.metrics import top_k
from bit_finetune.imaging import probe
from bit_finetune.imaging.encode import encode

COLUMNS = (
    "id", "uri", "predicted_name", "confidence", "top_k_names", "top_k_probabilities", "error",
)  # fmt: skip
_MAX_ERROR_CHARS = 200


def prepare(read: ReadResult, size: int) -> np.ndarray | str:
    """The image of ``read`` as uint8 RGB ``[size, size, 3]``, or why it has none."""
    if read.data is None:
        return f"unreadable: {read.error or 'no data'}"
    found = probe(read.data)
    if not found.decodable:
        return str(found.error)
    try:
        # PNG is lossless: the pixels are exactly those the preprocessing stage would store.
        square = encode(read.data, size=size, encoding="png")
    except Exception as exc:  # noqa: BLE001 - a broken image is reported, never fatal
        text = f"{type(exc).__name__}: {exc}"
        return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."
    with Image.open(io.BytesIO(square.data)) as image:
        return np.asarray(image.convert("RGB"))


def label_names(serving_model: Any) -> list[str]:
    """The class names a loaded serving model predicts, in its output order."""
    names = getattr(serving_model, "label_names", None)
    if names is None:
        raise ValueError(
            "serving_model: the SavedModel carries no label_names (exported by an older "
            "version); export it again with `kedro run --nodes export_serving_model`"
        )
    return [name.decode() for name in names.numpy()]


def predict(
    source: ImageSource,
    serving_model: Any,
    *,
    size: int,
    top_k_classes: int,
    batch_size: int,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per image of ``source``, in its scan order, with the ``COLUMNS`` above.

    Images are read and decoded as a stream and classified ``batch_size`` at a time
    through the model's ``serve`` signature (uint8 images), so memory stays flat.
    ``top_k_names``/``top_k_probabilities`` list the ``top_k_classes`` most probable
    classes (at most all of them), most probable first.
    """
    items = list(source.scan())
    names = np.asarray(label_names(serving_model), dtype=object)
    serve = serving_model.signatures["serve"]
    k = min(top_k_classes, len(names))
    reads = progress_bar(
        source.read([item.uri for item in items]),
        total=len(items),
        disable=not progress,
        desc="predicting",
        unit="img",
    )
    rows: dict[str, dict[str, Any]] = {}
    for batch, failures in _batches(reads, size, batch_size):
        rows.update(failures)
        if batch:
            uris, images = zip(*batch)
            probabilities = serve(images=tf.constant(np.stack(images)))["probabilities"]
            rows.update(zip(uris, _rows(probabilities.numpy(), names, k)))
    missing = {"error": "no data: the image source returned no result for this file"}
    table = pd.DataFrame(
        [{"id": item.id, "uri": item.uri, **rows.get(item.uri, missing)} for item in items],
        columns=list(COLUMNS),
    )
    return table.astype({"confidence": "float64"})


def _batches(
    reads: Iterable[ReadResult], size: int, batch_size: int
) -> Iterator[tuple[list[tuple[str, np.ndarray]], dict[str, dict[str, Any]]]]:
    """Groups of up to ``batch_size`` decoded images, with the failures met on the way."""
    batch: list[tuple[str, np.ndarray]] = []
    failures: dict[str, dict[str, Any]] = {}
    for read in reads:
        image = prepare(read, size)
        if isinstance(image, str):
            failures[read.uri] = {"error": image}
            continue
        batch.append((read.uri, image))
        if len(batch) == batch_size:
            yield batch, failures
            batch, failures = [], {}
    if batch or failures:
        yield batch, failures


def _rows(probabilities: np.ndarray, names: np.ndarray, k: int) -> list[dict[str, Any]]:
    best = top_k(probabilities, k)
    return [
        {
            "predicted_name": str(names[order[0]]),
            "confidence": float(row[order[0]]),
            "top_k_names": [str(name) for name in names[order]],
            "top_k_probabilities": [float(p) for p in row[order]],
            "error": None,
        }
        for row, order in zip(probabilities, best)
    ]
